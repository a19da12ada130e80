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
