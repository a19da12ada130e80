"""Atomic file writes: a reader never sees a half-written file, an interrupted run leaves none behind."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, flush it to disk, then rename it to
    ``path``. The file gets the permissions of a plainly created one (``0666`` less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = temporary_affixes(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _writer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


#: what :func:`tempfile.mkstemp` puts between prefix and suffix
_RANDOM_PART = 8
#: a longer suffix than this is left out of a temporary name (writers that go by a file's suffix know short ones)
_LONGEST_SUFFIX = 16


def name_limit(folder: str | os.PathLike) -> int:
    """The longest file name ``folder``'s file system takes, in bytes (255 where it does not say)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, ValueError, OSError):  # no pathconf (Windows), or no limit reported
        return 255


def temporary_affixes(path: Path) -> tuple[str, str]:
    """Prefix and suffix of ``path``'s temporary file: ``.<name>.<host>-<pid>.`` and ``<suffix>.tmp``, the name
    shortened so the whole stays within the file system's limit for any name legal there."""
    suffix = (path.suffix if len(os.fsencode(path.suffix)) <= _LONGEST_SUFFIX else "") + ".tmp"
    writer = f".{_writer()}."
    room = name_limit(path.parent) - len(os.fsencode(f".{writer}{suffix}")) - _RANDOM_PART
    name = os.fsencode(path.name)[:max(room, 0)].decode(errors="ignore")  # never half a character
    return f".{name}{writer}", suffix


def process_running(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writer_gone(name: str) -> bool:
    """Whether the temporary file ``name`` was left by a process of this host that no longer runs."""
    marker = f".{socket.gethostname()}-"
    pid = name.rsplit(marker, 1)[1].split(".", 1)[0] if marker in name else ""
    return pid.isdigit() and not process_running(int(pid))


def remove_leftovers(folder: str | os.PathLike) -> int:
    """Delete the temporary files that :func:`atomic_write` calls of killed processes left in ``folder`` (not its
    subfolders); returns how many. Those of running processes, or of other hosts sharing the folder, stay."""
    folder = Path(folder)
    stale = [p for p in folder.glob(".*.tmp") if p.is_file() and _writer_gone(p.name)] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))
