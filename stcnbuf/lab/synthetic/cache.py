"""Generated datasets on first use: each written into a temporary folder beside its final one and renamed into
place when complete, reused while its metadata file matches, regenerated otherwise; safe when processes race."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import uuid
from pathlib import Path
from typing import Callable

from stcnbuf.io.atomic import process_running

log = logging.getLogger(__name__)


def _matches(path: Path, meta: dict) -> bool:
    """``path`` holds a complete dataset whose metadata file names the generator, format version and
    parameters of ``meta``."""
    try:
        found = json.loads((path / meta["meta_file"]).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and all(found.get(k) == meta[k] for k in ("generator", "format_version", "config"))


def _remove_abandoned(data_dir: Path, name: str) -> None:
    """Remove the temporary folders of generations of ``name`` killed on this host (their process is gone);
    those of running processes, or of other hosts sharing the folder, are left alone."""
    pattern = re.compile(rf"\.{re.escape(name)}\.partial-{re.escape(socket.gethostname())}-(\d+)-[0-9a-f]{{8}}")
    for folder in data_dir.glob(f".{name}.partial-*"):
        match = pattern.fullmatch(folder.name)
        if match and not process_running(int(match[1])):
            log.info("removing %s, left by an interrupted generation", folder)
            shutil.rmtree(folder, ignore_errors=True)


def ensure_generated(data_dir: Path, name: str, meta: dict, write: Callable[[Path], Path]) -> Path:
    """The generated dataset ``data_dir/name``, written by ``write(folder)`` if absent or invalid.

    ``meta`` holds ``meta_file`` (the file ``write`` writes last), ``generator``, ``format_version`` and
    ``config``: a folder whose metadata file matches them is reused. Otherwise the dataset is written into a
    temporary sibling folder and renamed into place only when complete, so an interrupted run never leaves
    a folder that looks complete; a folder with the right name but a missing or different metadata file is
    replaced, and temporary folders of killed generations are removed.
    """
    data_dir = Path(data_dir).expanduser()
    final = data_dir / name
    if _matches(final, meta):
        log.info("reusing generated dataset %s", final)
        return final
    data_dir.mkdir(parents=True, exist_ok=True)
    if final.exists():
        log.warning("%s is incomplete or was made from other parameters; regenerating it", final)
    _remove_abandoned(data_dir, final.name)
    tmp = data_dir / f".{final.name}.partial-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    log.info("generating dataset %s", final)
    try:
        write(tmp)
        if final.exists() or final.is_symlink():
            if _matches(final, meta):  # another process finished first
                shutil.rmtree(tmp)
                return final
            stale = data_dir / f".{final.name}.stale-{uuid.uuid4().hex[:8]}"
            os.replace(final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if _matches(final, meta):  # lost a race with another process
                shutil.rmtree(tmp)
                return final
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final

