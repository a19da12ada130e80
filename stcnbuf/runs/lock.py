"""One writer per run folder: an operating-system lock held for the whole run.

A run takes ``<folder>/.stcnbuf.lock`` with ``flock`` (``msvcrt.locking`` on Windows) and writes who holds it
(pid, host, command, start time) into the file. Another run into the folder is refused with those details. The
kernel releases the lock of a process that ends in any way (a kill included), so a dead run's lock is taken over
by the next run, which writes its own details over the dead one's; the file itself stays.

Jobs of a sharded run (``shard=I/N``) share a folder: each holds the folder's lock shared and its shard folder's
lock exclusively, so shards run side by side, while a whole run, or a second job of the same shard, is refused.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from stcnbuf.io.atomic import process_running

log = logging.getLogger(__name__)
LOCK_NAME = ".stcnbuf.lock"
#: errors of file systems without locks: the run goes on unprotected, with a warning
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}


class FolderBusy(RuntimeError):
    """Another process holds the run folder."""


def holder_details() -> Dict[str, Any]:
    """What a lock file records of its holder: this process."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def recorded_holder(lock_file: str | os.PathLike) -> Optional[Dict[str, Any]]:
    """The details the last holder wrote into ``lock_file`` (``None``: none readable)."""
    try:
        holder = json.loads(Path(lock_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) and {"pid", "host", "command", "started"} <= set(holder) else None


def describe_holder(lock_file: str | os.PathLike) -> str:
    """The holder recorded in ``lock_file``, in words."""
    holder = recorded_holder(lock_file)
    if holder is None:
        return "a process that has not recorded itself yet"
    return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}, command: {holder['command']}"


class FolderLock:
    """The lock of one folder, held from :meth:`acquire` until :meth:`release` (or the process ends)."""

    def __init__(self, folder: str | os.PathLike, shared: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.shared = shared
        self._fd: Optional[int] = None

    def acquire(self) -> FolderLock:
        """Take the lock without waiting; :class:`FolderBusy` names the holder when another process has it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.path.is_symlink():
            raise FolderBusy(f"{self.path} is a symbolic link: remove it (a run locks its folder with a file there)")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            if not _lock(fd, self.shared):
                raise FolderBusy(self.busy_message())
        except OSError as error:
            if error.errno not in _UNSUPPORTED:
                os.close(fd)
                raise
            log.warning("the file system cannot lock %s (%s): nothing stops a second run writing into %s",
                        self.path, error, self.folder)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        if not self.shared:
            _record(fd)
        return self

    def busy_message(self, others_only: bool = False) -> str:
        """Who holds the folder: the holder its lock file records, else the jobs holding its shards (this
        process's own left out with ``others_only``)."""
        holders = [describe_holder(self.path)] if _recorded_holder_runs(self.path) else []
        holders += [f"{p.parent.name}: {describe_holder(p)}" for p in sorted(self.folder.glob(f"shards/*/{LOCK_NAME}"))
                    if not (others_only and (recorded_holder(p) or {}).get("pid") == os.getpid()) and _held(p)]
        who = "; ".join(holders) or "a process that has not recorded itself yet"
        return (f"{self.folder} is in use by another run ({who}): one run writes into a folder at a time; wait for it "
                "to end, or give another output_dir")

    def upgrade(self, why: str) -> None:
        """Hold a shared lock exclusively (no other job may use the folder); :class:`FolderBusy` otherwise."""
        if self._fd is None or not self.shared:
            return
        try:
            free = _lock(self._fd, shared=False)
        except OSError as error:
            free = error.errno in _UNSUPPORTED  # no locks there: warned of when the run began
            if not free:
                raise
        if not free:
            raise FolderBusy(f"{self.folder}: {why}, but other jobs of a sharded run use the folder ("
                             f"{self.busy_message(others_only=True)})")
        self.shared = False
        _record(self._fd)

    def release(self) -> None:
        """Let the folder go; the record of an exclusive holder is cleared first."""
        if self._fd is not None:
            if not self.shared:
                os.ftruncate(self._fd, 0)
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None


@contextmanager
def folder_lock(folder: str | os.PathLike, shared: bool = False) -> Iterator[FolderLock]:
    """Hold ``folder``'s lock for the ``with`` block (see the module's notes)."""
    lock = FolderLock(folder, shared).acquire()
    try:
        yield lock
    finally:
        lock.release()


@contextmanager
def run_lock(root: str | os.PathLike, shard_folder: Optional[Path] = None) -> Iterator[FolderLock]:
    """The locks of a run into ``root``: exclusive, or for a shard job shared with the other shards' jobs plus the
    shard's folder ``shard_folder`` exclusively. Yields the lock of ``root``."""
    with ExitStack() as stack:
        lock = stack.enter_context(folder_lock(root, shared=shard_folder is not None))
        if shard_folder is not None:
            stack.enter_context(folder_lock(shard_folder))
        yield lock


def _record(fd: int) -> None:
    """Write this process's details into the lock file ``fd`` (in place: the file is never replaced)."""
    data = json.dumps(holder_details()).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)


def _recorded_holder_runs(lock_file: Path) -> bool:
    """Whether ``lock_file`` records a holder that may still run (another host's always may)."""
    holder = recorded_holder(lock_file)
    if holder is None:
        return False
    return holder["host"] != socket.gethostname() or not str(holder["pid"]).isdigit() or process_running(
        int(holder["pid"]))


def _held(lock_file: Path) -> bool:
    """Whether another process holds ``lock_file`` (tried without waiting, released at once)."""
    try:
        fd = os.open(lock_file, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        free = _lock(fd, shared=False)
        if free:
            _unlock(fd)
        return not free
    except OSError:  # a file system without locks
        return False
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - no shared locks there: a shard job's folder lock is skipped
    import msvcrt

    def _lock(fd: int, shared: bool) -> bool:
        if shared:
            return True
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
else:
    import fcntl

    def _lock(fd: int, shared: bool) -> bool:
        """Take the lock without waiting: False when another process holds it."""
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
