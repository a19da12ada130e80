"""The soak script at a small size: runs killed at random points and resumed equal uninterrupted ones."""

import json

import pytest

from stcnbuf.lab.bench import soak


@pytest.mark.slow
def test_killed_and_resumed_runs_equal_uninterrupted_ones(tmp_path):
    assert soak.main(["--frames", "200", "--sequences", "6", "--kills", "3", "--work", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "soak.json").read_text())
    for part in ("segment", "eval"):
        assert result[part]["identical"] and result[part]["kills"] == 3, result[part]
        assert len(result[part]["peak_rss_mb"]) == 4  # three killed runs and the one that finished
    assert result["eval"]["predictions"] == 6 * 6
    assert result["segment"]["growth"] < 1.2, result["segment"]  # bounded memory: flat
