import math

import pytest

from stcnbuf.scoring.over_time import by_tenth, combine, plot_over_time


def test_visits_fall_into_ten_equal_parts_and_sequences_combine():
    parts = by_tenth([1.0] * 15 + [3.0] * 5, list(range(20)))  # 20 visits: two per tenth
    assert parts["frames"] == [2] * 10 and parts["seconds"] == [2.0] * 7 + [4.0, 6.0, 6.0]
    assert parts["memory_mb"] == [float(2 * b + 1) for b in range(10)]  # the larger of each pair
    short = by_tenth([0.5] * 4, [100.0] * 4)  # 4 visits: tenths 0, 2, 5, 7; the others empty
    assert short["frames"] == [1, 0, 1, 0, 0, 1, 0, 1, 0, 0] and short["memory_mb"][1] is None
    both = combine([parts, short])
    assert both["fps"][0] == pytest.approx(3 / 2.5) and both["fps"][1] == pytest.approx(1.0)
    assert both["memory_mb"][0] == 100.0 and both["memory_mb"][9] == 19.0
    assert combine([short])["fps"][1] is None and combine([short])["memory_mb"][1] is None
    with pytest.raises(ValueError, match="3 durations for 2 memory samples"):
        by_tenth([1, 2, 3], [1, 2])


def test_the_plot_has_a_panel_per_series(tmp_path):
    fps = combine([by_tenth([0.1] * 30, [500.0] * 30)])
    plot_over_time(tmp_path / "a.png", "t", [0.5] * 10, fps["fps"], fps["memory_mb"])
    plot_over_time(tmp_path / "b.png", "t", None, fps["fps"], fps["memory_mb"])  # not scored: no J&F panel
    assert all(math.isclose(v, 10.0) for v in fps["fps"])
    assert (tmp_path / "a.png").stat().st_size > (tmp_path / "b.png").stat().st_size > 1000
