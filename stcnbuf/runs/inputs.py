"""What a run reads, summarised for its fingerprint: a changed input makes earlier results stale."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Iterable

from stcnbuf.engine.checkpoint import file_sha256


def file_stamps(paths: Iterable[str | os.PathLike]) -> str:
    """A hash of the names, sizes and modification times of files (no file is read: cheap for frames)."""
    digest = hashlib.sha256()
    for path in paths:
        status = Path(path).stat()
        digest.update(f"{Path(path).resolve()}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def content_digests(paths: Iterable[str | os.PathLike]) -> Dict[str, str]:
    """SHA-256 of each file's contents, by path (for small inputs whose every byte matters: masks)."""
    return {str(path): file_sha256(path)[:16] for path in paths}
