"""Checking, before any long work, that its results can be written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def require_writable_folder(folder: str | os.PathLike, what: str) -> Path:
    """Create ``folder`` if needed and write (then remove) a probe file in it; an :class:`OSError` naming
    ``what`` (e.g. ``--out``), the folder and the cause (a read-only disk, missing permissions, a full disk)
    when that fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise OSError(error.errno, f"cannot write into {what} {folder}: {error.strerror or error} "
                                   "(give a folder on a writable disk)") from error
    return folder
