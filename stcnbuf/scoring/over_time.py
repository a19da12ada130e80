"""Results over the course of a video: J&F, speed and memory per tenth of each sequence, and their plot."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from stcnbuf.io.atomic import atomic_write

#: how many parts of each sequence the time-resolved results have
BINS = 10


def by_tenth(durations: Sequence[float], memory_mb: Sequence[float], bins: int = BINS) -> Dict[str, List[float]]:
    """One sequence's visits (compute seconds and memory after each, in visit order) in ``bins`` equal parts:
    ``frames``, ``seconds`` and the peak ``memory_mb`` of each part (0 frames, 0 s and None where it is empty)."""
    if len(durations) != len(memory_mb):
        raise ValueError(f"{len(durations)} durations for {len(memory_mb)} memory samples")
    part = (np.arange(len(durations)) * bins) // max(len(durations), 1)
    durations, memory = np.asarray(durations, float), np.asarray(memory_mb, float)
    return {"frames": [int(np.sum(part == b)) for b in range(bins)],
            "seconds": [float(durations[part == b].sum()) for b in range(bins)],
            "memory_mb": [float(memory[part == b].max()) if np.any(part == b) else None for b in range(bins)]}


def combine(parts: Sequence[Dict[str, List[float]]], bins: int = BINS) -> Dict[str, List[Optional[float]]]:
    """Over sequences: ``fps`` (frames / seconds) and peak ``memory_mb`` in each part, None where none has
    frames there."""
    frames, seconds, memory = np.zeros(bins), np.zeros(bins), np.full(bins, np.nan)
    for p in parts:
        frames += p["frames"]
        seconds += p["seconds"]
        memory = np.fmax(memory, np.array([np.nan if m is None else m for m in p["memory_mb"]], float))
    fps = [float(f / s) if s > 0 else None for f, s in zip(frames, seconds)]
    return {"fps": fps, "memory_mb": [None if np.isnan(m) else float(m) for m in memory]}


def plot_over_time(path: Path, title: str, jf: Optional[List[Optional[float]]], fps: List[Optional[float]],
                   memory_mb: List[Optional[float]]) -> None:
    """J&F (when some part has a value), fps and peak memory against the position in the sequences, one
    panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = jf is not None and any(v is not None for v in jf)
    panels = ([("J&F (%)", [None if v is None else 100 * v for v in jf], "frames")] if scored else []) + [
        ("frames per second", fps, "visits"), ("peak memory (MiB)", memory_mb, "visits")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (label, values, unit) in zip(axes[0], panels):
        ax.plot([(i + 0.5) / len(values) for i in range(len(values))],
                [np.nan if v is None else v for v in values], "o-")
        ax.set(xlabel=f"position in the sequence (fraction of its {unit})", ylabel=label, xlim=(0, 1))
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
