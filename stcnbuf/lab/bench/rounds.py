"""Side-by-side timing that survives a noisy machine: sides run in alternating rounds (A, B, A, B, ...), and
each side is summarised by its median and best round, with the spread of its rounds."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping

#: at least this many rounds per side, and frames per round, for a figure the docs report (docs/results/)
MIN_ROUNDS = 3
MIN_FRAMES = 20


def markdown_table(header: List[str], rows: List[List[Any]]) -> str:
    """A Markdown table of already formatted cells."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)


def alternate(sides: Mapping[str, Callable[[int], float]], rounds: int, label: str = "") -> Dict[str, List[float]]:
    """Run ``sides[name](round)`` (each returns its round's seconds per frame) in alternating order,
    ``rounds`` times each, and return every side's per-round figures."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    results: Dict[str, List[float]] = {name: [] for name in sides}
    for r in range(rounds):
        for name, run in sides.items():
            results[name].append(float(run(r)))
            print(f"  {label}round {r + 1}/{rounds} {name}: {results[name][-1]:.4f} s/frame", file=sys.stderr,
                  flush=True)
    return results


def summary(rounds: List[float]) -> Dict[str, float]:
    """Median, best (lowest) and worst round, and the spread (worst - best) relative to the median."""
    median = statistics.median(rounds)
    return {"median": median, "best": min(rounds), "worst": max(rounds),
            "spread": (max(rounds) - min(rounds)) / median if median else 0.0, "rounds": list(rounds)}


def ratio(a: List[float], b: List[float]) -> Dict[str, float]:
    """``a`` against ``b``: ratio of medians, of best rounds, and the range of the per-round ratios (round i
    of ``a`` against round i of ``b``, run next to each other)."""
    per_round = [x / y for x, y in zip(a, b)]
    return {"median_ratio": statistics.median(a) / statistics.median(b), "best_ratio": min(a) / min(b),
            "round_ratio_min": min(per_round), "round_ratio_max": max(per_round)}


def rounds_table(results: Mapping[str, List[float]], baseline: str) -> str:
    """Markdown: per side its median, best, spread and rounds; and its ratios to ``baseline``."""
    rows = []
    for name, rounds in results.items():
        s = summary(rounds)
        r = ratio(rounds, results[baseline]) if name != baseline else None
        rows.append([name, f"{s['median']:.4f}", f"{s['best']:.4f}", f"{100 * s['spread']:.0f} %",
                     " / ".join(f"{x:.3f}" for x in rounds),
                     "-" if r is None else f"{r['median_ratio']:.3f}", "-" if r is None else f"{r['best_ratio']:.3f}",
                     "-" if r is None else f"{r['round_ratio_min']:.3f}-{r['round_ratio_max']:.3f}"])
    return markdown_table(["side", "median s/frame", "best s/frame", "spread", "rounds (s/frame)",
                           f"median ratio to {baseline}", "best-round ratio", "per-round ratios"], rows)


def plot_rounds(groups: Mapping[str, Mapping[str, List[float]]], path: Path, title: str) -> None:
    """One panel per group: every round as a dot, the median as a bar, so the spread is in view."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False)
    for ax, (group, results) in zip(axes[0], groups.items()):
        for x, (name, rounds) in enumerate(results.items()):
            ax.scatter([x] * len(rounds), rounds, s=18, alpha=0.7)
            ax.hlines(statistics.median(rounds), x - 0.3, x + 0.3, color="black")
        ax.set_xticks(range(len(results)), list(results), rotation=15)
        ax.set(title=group, ylabel="seconds per frame (one dot per round)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
