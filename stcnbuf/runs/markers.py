"""Markers: a small file beside a derived output recording what it was made from, and the size and hash of
each finished file a completion marker vouches for."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List

from stcnbuf.engine.checkpoint import file_sha256
from stcnbuf.io.atomic import atomic_write_text


class MadeFrom:
    """The marker ``path``: :meth:`matches` tells whether the output beside it was made from ``source``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> str | None:
        """The recorded source; ``None`` when there is no marker or an unreadable one (its output is redone)."""
        try:
            return self.path.read_text(encoding="utf-8") if self.path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None

    def matches(self, source: str) -> bool:
        return self.read() == source

    def write(self, source: str) -> None:
        atomic_write_text(self.path, source)


def file_stamps(folder: Path, names: Iterable[str]) -> Dict[str, List]:
    """``{name: [size, sha256 prefix]}`` of files of ``folder``: what a completion marker vouches for."""
    return {name: [(Path(folder) / name).stat().st_size, file_sha256(Path(folder) / name)[:16]] for name in names}


def damaged_files(folder: Path, stamps: Dict[str, List]) -> List[str]:
    """The files of ``stamps`` (:func:`file_stamps`) that are missing from ``folder``, links, or differ from their
    stamp (a malformed stamp counts as differing; only files of the recorded size are read)."""
    damaged = []
    for name, stamp in stamps.items():
        path = Path(folder) / name
        size, digest = stamp if isinstance(stamp, list) and len(stamp) == 2 else (None, None)
        if path.is_symlink() or not path.is_file() or path.stat().st_size != size or file_sha256(path)[:16] != digest:
            damaged.append(name)
    return damaged
