import os
import stat

import pytest

from stcnbuf.io.atomic import atomic_write, atomic_write_text


def test_atomic_writes_keep_the_umask_permissions_and_leave_no_temporary(tmp_path):
    previous = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "sub" / "result.json", "{}")
    finally:
        os.umask(previous)
    assert path.read_text() == "{}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # others can read a shared results folder
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "sub" / "broken.json", lambda tmp: (open(tmp, "w").write("{"), _fail()))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["result.json"]


def _fail():
    raise RuntimeError("interrupted while writing")


def test_temporary_files_of_a_killed_write_are_removed_by_the_next_run(tmp_path):
    import subprocess
    import sys

    from stcnbuf.apps.evaluate.run_directory import RunDirectory

    killed = ("import os, signal, sys\n"
              "from stcnbuf.io.atomic import atomic_write\n"
              "def write(tmp):\n"
              "    open(tmp, 'w').write('half')\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "atomic_write(sys.argv[1], write)\n")
    for target in (tmp_path / "metrics.json", tmp_path / "predictions" / "seq" / "00001.png"):
        done = subprocess.run([sys.executable, "-c", killed, str(target)], capture_output=True)
        assert done.returncode == -9
        assert [p.name.endswith(".tmp") for p in target.parent.iterdir()] == [True]
    import socket

    writing = tmp_path / f".per_sequence.csv.{socket.gethostname()}-{os.getpid()}.abcd.csv.tmp"  # a live writer's
    writing.write_text("in progress")
    run = RunDirectory(tmp_path, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted([writing.name, "run.json"])
    run.discard("seq")  # the sequence is segmented again from the start
    assert not (tmp_path / "predictions" / "seq").exists()


def test_temporary_names_stay_within_the_name_limit_for_any_legal_name(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    from unittest import mock

    from stcnbuf.io.atomic import name_limit, remove_leftovers, temporary_affixes

    limit = name_limit(tmp_path)
    temporary = []

    def write(tmp):
        temporary.append(Path(tmp).name)
        Path(tmp).write_bytes(b"ok")

    names = ["f" * 240 + ".png", "f" * (limit - 4) + ".png", "é" * ((limit - 4) // 2) + ".png", "x" * limit]
    for name in names:
        assert atomic_write(tmp_path / name, write).read_bytes() == b"ok"
    assert all(len(os.fsencode(n)) <= limit for n in temporary) and all(n.endswith(".png.tmp") for n in temporary[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with mock.patch("os.getpid", return_value=int(gone.stdout)):  # the name that writer gave its temporary file
        prefix, suffix = temporary_affixes(tmp_path / names[1])  # a killed writer's leftover is still recognised
    left = tmp_path / (prefix + "abcdefgh" + suffix)
    left.write_text("half")
    assert len(os.fsencode(left.name)) <= limit and remove_leftovers(tmp_path) == 1 and not left.exists()
