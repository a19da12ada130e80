"""``bench live``: a synthetic stream piped into the segment app, latency and frame rate per model and object
count (here at toy sizes)."""

import json
import subprocess
import sys

import pytest

from stcnbuf.lab.bench.live import summary
from tests.conftest import REPO


def test_latency_is_from_send_to_seen_after_the_warm_up():
    figures = summary(sent=[0.0, 1.0, 2.0, 3.0], seen=[0.5, 1.1, 2.3, 3.2], warm_up=1)
    assert figures["latency_ms_median"] == pytest.approx(200.0)
    assert figures["latency_ms_max"] == pytest.approx(300.0)
    assert figures["latency_ms_p95"] == pytest.approx(290.0)  # numpy's linear rule over 100, 200, 300 ms
    assert figures["fps"] == pytest.approx(3 / 2.2)


@pytest.mark.slow
def test_bench_live_measures_a_stream_through_the_app(tmp_path):
    done = subprocess.run([sys.executable, "-m", "stcnbuf.lab.bench", "live", "--live-models", "stcn_small",
                           "--live-frames", "5", "--live-warm-up", "2", "--height", "48", "--width", "64",
                           "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads((tmp_path / "live.json").read_text())["runs"]
    assert [(r["model"], r["objects"]) for r in runs] == [("stcn_small", 1), ("stcn_small", 3)]
    for run in runs:
        assert 0 < run["latency_ms_median"] <= run["latency_ms_p95"] <= run["latency_ms_max"] and run["fps"] > 0
        assert run["app_report"]["frames"] == "5" and run["app_report"]["stopped_by"] == "end of stream"
    assert "| model | objects | FPS | latency median ms |" in done.stdout
