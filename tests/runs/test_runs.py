"""Run folders: damaged records and snapshots are named or redone, never trusted."""

import logging

import pytest
import torch

from stcnbuf.apps.evaluate.run_directory import RunDirectory
from stcnbuf.runs import MadeFrom, SnapshotStore, claim_folder


def test_snapshots_match_by_prefix_digest_and_a_damaged_one_is_named(tmp_path, caplog):
    snapshots = SnapshotStore(tmp_path, every=2)
    digests = [f"{i:064x}" for i in range(8)]
    snapshots.save(1, digests[1], {"x": torch.ones(2)})
    snapshots.save(3, digests[3], {"x": torch.full((2,), 3.0)})
    assert snapshots.latest(digests).position == 3
    assert snapshots.latest(digests, usable=lambda p: p < 3).position == 1
    changed = digests[:3] + ["f" * 64] * 5  # another run sharing visits 0..2
    assert snapshots.latest(changed).position == 1
    assert SnapshotStore(tmp_path).latest(["e" * 64] * 8) is None  # another run's
    next(tmp_path.glob("visit-0000003-*.pt")).write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING):
        assert snapshots.latest(digests).position == 1
    assert "visit-0000003" in caplog.text and "an earlier one is used" in caplog.text
    snapshots.drop_after(1)
    assert snapshots.positions == [1]


def test_a_bounded_number_of_snapshots_stay_spread_over_the_plan(tmp_path):
    snapshots = SnapshotStore(tmp_path, every=10, keep=4)
    for position in range(9, 200, 10):
        snapshots.save(position, f"{position:064x}", {})
    kept = snapshots.positions
    assert len(kept) == 4 and kept[-1] == 199  # the latest is always kept
    gaps = [b - a for a, b in zip([-1] + kept, kept)]
    assert max(gaps) <= 2 * min(gaps) + 10, kept  # spread, not bunched at one end
    snapshots.remove()
    assert not tmp_path.exists()


def test_damaged_records_and_markers(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match=f"{tmp_path / 'run.json'} is not a readable run record"):
        claim_folder(tmp_path / "run.json", {"a": 1}, keep=True, fix="")
    run = RunDirectory(tmp_path / "eval", {"a": 1})
    (run.markers / "seq.json").parent.mkdir(parents=True)
    (run.markers / "seq.json").write_bytes(b"\xff\xfe")
    assert run.finished("seq", {"frames": "x", "masks": {}}) is None
    marker = MadeFrom(tmp_path / "overlay.mp4.sha256")
    marker.path.write_bytes(b"\xff\xfe\x00")
    assert marker.read() is None and not marker.matches("abc")


def test_another_configuration_is_discarded_before_the_record_names_the_new_one(tmp_path):
    run = RunDirectory(tmp_path, {"a": 1})
    for name in ("metrics.json", "per-sequence_results-val.csv", "global_results-val.csv", "submission.zip"):
        (tmp_path / name).write_text("old")
    (tmp_path / "shards" / "0-of-2").mkdir(parents=True)
    (run.markers / "seq.json").parent.mkdir(parents=True)
    (run.markers / "seq.json").write_text("{}")
    seen = []
    claim_folder(tmp_path / "run.json", {"a": 2}, keep=False, fix="",
                 discard=lambda same: seen.append((same, (tmp_path / "run.json").read_text())))
    assert seen[0][0] is False and '"a": 1' in seen[0][1]  # the old record still stood while discarding
    RunDirectory(tmp_path, {"a": 3}, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


SAVE_UNDER_A_FILE_SIZE_LIMIT = """
import resource, signal, sys
import torch
from stcnbuf.runs import SnapshotStore
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails instead of killing the process
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
SnapshotStore(sys.argv[1]).save(0, "abc", {"memory": torch.zeros(100_000)})
"""


def test_a_snapshot_that_does_not_fit_names_the_file_and_the_cause(tmp_path):
    """A file-size limit (as a full disk) while saving a snapshot: the error names the file, the free space and
    the limit, not torch's ``[enforce fail at inline_container.cc] unexpected pos``; no partial file is left."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SAVE_UNDER_A_FILE_SIZE_LIMIT, str(tmp_path / "snapshots")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert f"OSError: [Errno 28] cannot write {tmp_path / 'snapshots' / 'visit-0000000-abc.pt'}: the disk is full or a file-size limit" in last
    assert "MiB free on its disk, file-size limit 0.1 MiB (ulimit -f)" in last
    assert list((tmp_path / "snapshots").iterdir()) == []


def test_a_marker_vouches_for_contents_and_keeps_the_stamps_of_files_found_intact(tmp_path, monkeypatch):
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "b.png").write_bytes(b"b")
    marker = MadeFrom(tmp_path / ".masks.sha256")
    marker.write("digest", ["a.png", "b.png"])
    assert marker.matches("digest", ["a.png", "b.png"]) and not marker.matches("other", ["a.png"])
    (tmp_path / "b.png").write_bytes(b"B")                       # same size, other contents
    assert marker.damaged(["a.png", "b.png", "c.png"]) == ["b.png", "c.png"]
    import stcnbuf.runs.markers as markers
    read = []
    monkeypatch.setattr(markers, "file_sha256", lambda path: read.append(path.name) or "0" * 64)
    marker.write("digest", ["a.png", "b.png"], unchanged=["a.png"])
    assert read == ["b.png"]                                     # a.png's stamp kept, not read again
