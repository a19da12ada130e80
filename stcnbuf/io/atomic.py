"""Atomic file writes: a reader never sees a half-written file, an interrupted run leaves none behind."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Callable

try:
    import resource
except ImportError:  # Windows: no file-size limits
    resource = None


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
    except (OSError, RuntimeError) as error:
        if not _out_of_space(error):
            raise
        raise OSError(error.errno if isinstance(error, OSError) else errno.ENOSPC,
                      f"cannot write {path}: {write_failure(path.parent, tmp)}") from error
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


#: How torch's zip writer reports a failed write (a full disk, a file-size limit) as a ``RuntimeError``.
_TORCH_WRITE_FAILURE = re.compile(r"inline_container|PytorchStreamWriter|file write failed")


def _out_of_space(error: BaseException) -> bool:
    """Whether a write failed for want of space: a full disk or quota, a file-size limit (torch's writer words
    these as a ``RuntimeError``)."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    return bool(_TORCH_WRITE_FAILURE.search(str(error)))


def write_failure(folder: Path, tmp: str) -> str:
    """Why a write into ``folder`` (of the file ``tmp``) most likely failed: the bytes written, the free space
    there and the process's file-size limit (``ulimit -f``) where one is set; with the fix."""
    written = os.path.getsize(tmp) if os.path.exists(tmp) else 0
    cause = f"{written / 2 ** 20:.1f} MiB written, {shutil.disk_usage(folder).free / 2 ** 20:.1f} MiB free on its disk"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource is not None else None
    if limit is not None and limit != resource.RLIM_INFINITY:
        cause += f", file-size limit {limit / 2 ** 20:.1f} MiB (ulimit -f)"
    return f"the disk is full or a file-size limit is reached ({cause}): free space, raise the limit or write elsewhere"


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
