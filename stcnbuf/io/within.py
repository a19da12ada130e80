"""Paths inside a run folder: nothing is written through a symbolic link out of it, links are removed as links."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def remove(path: str | os.PathLike) -> None:
    """Remove ``path`` whatever it is: a link (only the link, never what it points to), a file, or a folder with
    everything in it (links inside removed as links). A missing path is fine; a failure raises."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def require_within(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` (``root`` or below it), refused with ``ValueError`` when a link on its way leads out of ``root``
    (a write there would land elsewhere); returns ``path``."""
    root, path = Path(root), Path(path)
    real_root = root.resolve()
    inner = path.relative_to(root)
    for depth in range(1, len(inner.parts) + 1):
        step = root.joinpath(*inner.parts[:depth])
        if step.is_symlink() and not step.resolve().is_relative_to(real_root):
            raise ValueError(f"{step} is a symbolic link to {os.readlink(step)}, out of the run folder {root}: a run "
                             f"writes only inside its folder; remove the link (rm {step}) and run again")
    return path
