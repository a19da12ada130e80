"""One writer per run folder: the lock names its holder, a dead holder's lock is taken over, shards share."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from stcnbuf.runs.lock import LOCK_NAME, FolderBusy, folder_lock, recorded_holder, run_lock
from tests.conftest import REPO

HOLD = ("import sys, time\n"
        "from stcnbuf.runs.lock import folder_lock\n"
        "with folder_lock(sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n")


def hold_in_another_process(folder):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), "--tag"], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_held_folder_is_refused_naming_the_holder_and_a_dead_holders_lock_is_taken_over(tmp_path):
    holder = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(FolderBusy) as refused:
            with folder_lock(tmp_path):
                pass
        message = str(refused.value)
        assert f"pid {holder.pid} on {socket.gethostname()}" in message and "--tag" in message
        assert "started 20" in message and "give another output_dir" in message
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed run: its lock goes with it
        holder.wait()
    assert recorded_holder(tmp_path / LOCK_NAME)["pid"] == holder.pid  # the dead holder's record is still there
    with folder_lock(tmp_path):
        assert recorded_holder(tmp_path / LOCK_NAME)["pid"] == os.getpid()
    assert (tmp_path / LOCK_NAME).read_text() == ""  # a lock let go records nobody


def test_jobs_of_a_sharded_run_share_the_folder_but_not_a_shard(tmp_path):
    shard = tmp_path / "shards" / "0-of-2"
    with run_lock(tmp_path, shard) as lock, run_lock(tmp_path, tmp_path / "shards" / "1-of-2"):
        with pytest.raises(FolderBusy, match=f"pid {os.getpid()}"):  # the same shard twice
            with run_lock(tmp_path, shard):
                pass
        with pytest.raises(FolderBusy, match="0-of-2"):  # a whole run beside shard jobs
            with folder_lock(tmp_path):
                pass
        with pytest.raises(FolderBusy, match="discarding .* other jobs of a sharded run"):
            lock.upgrade("discarding the results of another configuration")
    with run_lock(tmp_path, shard) as lock:  # alone, a shard job may take the whole folder
        lock.upgrade("discarding the results of another configuration")
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_lock_file_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_NAME).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FolderBusy, match="is a symbolic link"):
        with folder_lock(tmp_path / "run"):
            pass
