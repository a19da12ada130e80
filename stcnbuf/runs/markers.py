"""Markers: a small file beside a derived output recording what it was made from, and the size and hash of
each finished file a completion marker vouches for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List

from stcnbuf.engine.checkpoint import file_sha256
from stcnbuf.io.atomic import atomic_write_text


class MadeFrom:
    """The marker ``path``: what the outputs beside it were made from and the size and hash of each output file
    (in the marker's folder) it vouches for; :meth:`matches` tells whether they still stand."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _record(self) -> Dict[str, Any] | None:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else None
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        valid = isinstance(record, dict) and isinstance(record.get("source"), str) and isinstance(
            record.get("files"), dict)
        return record if valid else None

    def read(self) -> str | None:
        """The recorded source; ``None`` when there is no marker or an unreadable one (its outputs are redone)."""
        record = self._record()
        return record["source"] if record else None

    def damaged(self, files: Iterable[str]) -> List[str]:
        """The ``files`` (names in the marker's folder) missing, changed since :meth:`write` stamped them, or
        never stamped."""
        record = self._record()
        stamps = record["files"] if record else {}
        return damaged_files(self.path.parent, {name: stamps.get(name) for name in files})

    def matches(self, source: str, files: Iterable[str] = ()) -> bool:
        """The outputs were made from ``source`` and each of ``files`` is as it was written."""
        return self.read() == source and not self.damaged(files)

    def write(self, source: str, files: Iterable[str] = (), unchanged: Iterable[str] = ()) -> None:
        """Record ``source`` and stamp ``files`` (names in the marker's folder, written before the marker); those
        also in ``unchanged``, just found intact by :meth:`damaged`, keep their recorded stamps unread."""
        record = self._record()
        kept = {name: record["files"][name] for name in unchanged if record and name in record["files"]}
        files = list(files)
        stamps = {**kept, **file_stamps(self.path.parent, [name for name in files if name not in kept])}
        atomic_write_text(self.path, json.dumps({"source": source, "files": {name: stamps[name] for name in files}},
                                                sort_keys=True) + "\n")


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
