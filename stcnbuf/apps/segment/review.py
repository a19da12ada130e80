"""Where to look in a segmented video: the per-object confidence of every frame (``confidence.csv``) and the
stretches of frames to check (``review.json``, ``review.png``): low confidence, an object lost, an object back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from stcnbuf.io.atomic import atomic_write, atomic_write_text
from stcnbuf.io.rle import RLEFile

LOW_CONFIDENCE = "low confidence"
LOST = "lost"


@dataclass
class Stretch:
    """Consecutive frames of one object to check."""

    object_id: int
    first: int                 #: first frame of the stretch
    last: int                  #: last frame (included)
    reason: str                #: ``lost`` (the object is missing on some of its frames) or ``low confidence``
    worst: float               #: the lowest confidence in it (0 where the object is missing)
    mean: float                #: the mean confidence over its frames
    reappears: Optional[int]   #: for ``lost``: the frame where the object is back (None: not before the end)

    @property
    def frames(self) -> int:
        return self.last - self.first + 1


def _flagged(frames: Sequence[int], confidence: Mapping[int, float], present: Mapping[int, bool],
             below: float, given: Iterable[int]) -> Dict[int, bool]:
    """Frame -> whether it is to be checked, with whether the object is missing there (``True``) or only doubtful
    (``False``): missing after it was seen, back after it was missing, or under ``below``; given frames never."""
    flagged: Dict[int, bool] = {}
    seen, missing_before, given = False, False, set(given)
    for t in frames:
        here = present.get(t, False)
        if t not in given:
            if seen and not here:
                flagged[t] = True
            elif here and (missing_before or confidence.get(t, 1.0) < below):
                flagged[t] = False
        missing_before = seen and not here
        seen = seen or here
    return flagged


def object_stretches(object_id: int, confidence: Mapping[int, float], present: Mapping[int, bool], below: float,
                     merge_gap: int = 2, given: Iterable[int] = ()) -> List[Stretch]:
    """The stretches of one object over the frames of ``confidence`` (frame -> confidence; frames without one
    are not judged): frames under ``below``, frames where it is missing after it was seen (``present``: frame ->
    whether its mask has a pixel), and the frame it is back on. Flagged frames at most ``merge_gap`` frames apart
    make one stretch."""
    frames = sorted(confidence)
    flagged = _flagged(frames, confidence, present, below, given)
    groups: List[List[int]] = []
    for t in sorted(flagged):
        if groups and t - groups[-1][-1] <= merge_gap + 1:
            groups[-1].append(t)
        else:
            groups.append([t])
    stretches = []
    for group in groups:
        inside = [t for t in frames if group[0] <= t <= group[-1]]
        values = [confidence[t] if present.get(t, False) else 0.0 for t in inside]
        lost = any(flagged[t] for t in group)
        back = next((t for t in frames if t > max(t for t in group if flagged[t]) and present.get(t, False)),
                    None) if lost else None
        stretches.append(Stretch(object_id, group[0], group[-1], LOST if lost else LOW_CONFIDENCE,
                                 round(float(min(values)), 4), round(float(np.mean(values)), 4), back))
    return stretches


def review_stretches(rle: RLEFile, below: float, merge_gap: int = 2) -> List[Stretch]:
    """Every object's stretches (:func:`object_stretches`) in an RLE file with confidence, longest first, then
    worst first."""
    given = rle.extra.get("given_frames", [])
    stretches = []
    for i in rle.object_ids:
        confidence = {t: c[i] for t, c in rle.confidence.items() if i in c}
        present = {t: i in rle.frames.get(t, {}) for t in confidence}
        stretches += object_stretches(i, confidence, present, below, merge_gap, given)
    return sorted(stretches, key=lambda s: (-s.frames, s.worst, s.first, s.object_id))


def frames_to_check(stretches: Iterable[Stretch]) -> Dict[int, List[Stretch]]:
    """Frame -> the stretches covering it."""
    marks: Dict[int, List[Stretch]] = {}
    for s in stretches:
        for t in range(s.first, s.last + 1):
            marks.setdefault(t, []).append(s)
    return marks


def write_confidence_csv(rle: RLEFile, path: Path) -> Path:
    """``frame,object_<id>,...``: one row per frame, each object's confidence (empty where none was recorded)."""
    lines = [",".join(["frame", *(f"object_{i}" for i in rle.object_ids)])]
    for t in range(rle.num_frames):
        values = rle.confidence.get(t, {})
        lines.append(",".join([str(t), *(f"{values[i]:.4f}" if i in values else "" for i in rle.object_ids)]))
    return atomic_write_text(path, "\n".join(lines) + "\n")


def write_review(rle: RLEFile, stretches: Sequence[Stretch], folder: Path, below: float,
                 merge_gap: int) -> Dict[str, Any]:
    """Write ``review.json`` (``stretches`` of :func:`review_stretches` with ``below`` and ``merge_gap``) and
    ``review.png`` (confidence over time with the stretches shaded) into ``folder``; returns the review."""
    review = {"below": below, "merge_gap": merge_gap, "num_frames": rle.num_frames, "object_ids": rle.object_ids,
              "frames_to_check": len(frames_to_check(stretches)),
              "stretches": [{**asdict(s), "frames": s.frames} for s in stretches]}
    atomic_write_text(folder / "review.json", json.dumps(review, indent=1))
    plot_review(rle, stretches, below, folder / "review.png")
    return review


def plot_review(rle: RLEFile, stretches: Sequence[Stretch], below: float, path: Path) -> Path:
    """Each object's confidence over the frames, the threshold, and its stretches to check shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stcnbuf.io.overlay import palette_colour

    fig, axes = plt.subplots(len(rle.object_ids), 1, figsize=(9, 0.4 + 1.3 * len(rle.object_ids)), sharex=True,
                             squeeze=False)
    for ax, i in zip(axes[:, 0], rle.object_ids):
        frames = [t for t in sorted(rle.confidence) if i in rle.confidence[t]]
        values = [rle.confidence[t][i] for t in frames]
        colour = palette_colour(i) / 255
        ax.plot(frames, values, color=colour, lw=1.2)
        ax.axhline(below, color="grey", ls="--", lw=0.8)
        for s in stretches:
            if s.object_id == i:
                ax.axvspan(s.first - 0.5, s.last + 0.5, color="red" if s.reason == LOST else "orange", alpha=0.25)
        ax.set(ylim=(0, 1.02), xlim=(-0.5, rle.num_frames - 0.5), ylabel=f"object {i}")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("frame (shaded: to check; red: object lost; dashed: threshold)")
    fig.suptitle("confidence over time", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path


def overlay_marks(rle: RLEFile, stretches: Iterable[Stretch]) -> Dict[int, str]:
    """Frame -> the text an overlay shows on a frame to check, e.g. ``check: 2 lost, 1 at 0.31``."""
    marks = {}
    for t, covering in sorted(frames_to_check(stretches).items()):
        parts = []
        for i in sorted({s.object_id for s in covering}):
            here = i in rle.frames.get(t, {})
            parts.append(f"{i} at {rle.confidence.get(t, {}).get(i, 0.0):.2f}" if here else f"{i} lost")
        marks[t] = "check: " + ", ".join(parts)
    return marks


def confidence_outputs(rle: RLEFile, folder: Path, review: bool, below: float,
                       merge_gap: int) -> tuple[Dict[str, Any], Dict[int, str]]:
    """What the segment app writes from the confidence in ``rle``: ``confidence.csv`` always; with ``review``,
    ``review.json`` and ``review.png``. Returns the paths written (for the app's result) and the overlay's marks
    (none without ``review``)."""
    if not 0 <= below <= 1:
        raise ValueError(f"outputs.review_below={below} must be in [0, 1] (a confidence)")
    if merge_gap < 0:
        raise ValueError(f"outputs.review_merge_gap={merge_gap} must be >= 0 (frames)")
    if not rle.confidence:
        if review:
            raise ValueError("outputs.review=true, but the masks carry no confidence (written by an older version): "
                             "segment the video again with resume=false")
        return {}, {}
    written: Dict[str, Any] = {"confidence": str(write_confidence_csv(rle, folder / "confidence.csv"))}
    if not review:
        return written, {}
    stretches = review_stretches(rle, below, merge_gap)
    result = write_review(rle, stretches, folder, below, merge_gap)
    written.update(review=str(folder / "review.json"), frames_to_check=result["frames_to_check"])
    return written, overlay_marks(rle, stretches)
