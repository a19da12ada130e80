"""Semi-supervised scoring: sequences of label maps to per-object J and F, global J&F, CSV files.

Two protocols (``SequenceJob.protocol``):

- ``davis``, the official davis2017-evaluation kit's, for DAVIS data: objects are ids ``1..N``, ``N`` the
  largest id of the first ground-truth frame (void 255 counts as background everywhere, no pixel is
  excluded); the first and the last frame are not scored; a predicted id above ``N`` is extra. When ids
  of ``1..N`` are absent from the first frame the kit still scores them (J = F = 1 wherever both are
  empty); the sequence is then named in :attr:`EvaluationResult.notes`.
- ``present``, for objects that come and go (any other layout, ground truth on every frame or on some):
  the objects are the ids present anywhere in the ground truth; each is scored on the annotated frames
  after its first appearance (where its mask was given) up to its last one, frames in between where it is
  absent included; a predicted id that the ground truth lacks is extra.
- ``lvos``, for LVOS (``data=lvos``): the objects and their annotated ranges come from the dataset's meta
  file; each object is scored on the annotated frames of its range after its first one (its input), its last
  one included; besides J and F, V is the standard deviation of its per-frame J&F. Decay uses the correct
  bin edges.
- ``lvos_official``: the official LVOS toolkit's numbers (``evaluation_method.py`` with ``lvos/evaluation.py``,
  ``evaluation_mp.py`` or ``evaluation_mt.py``, which score alike at its head, commit ``25cb02d``), quirks
  included: an object is scored on the walk ``range(start, end, 5)`` less its positions 0 and ``frame_nums - 1``
  (the range's last annotated frame is never scored), in ``frame_nums - 2`` slots where slots no frame fills
  count as 0; its Decay is always 0 (its per-object arrays of shape ``(1, N)`` put the whole array in every
  bin); V is ``sqrt(round(variance, 4))``; objects are named ``<video>_<n>``, ``n`` their position in the meta
  file; the headline figures are the means of the seen and the unseen videos' figures
  (:func:`lvos_official_globals`). Boundaries are those of the toolkit's Python path (``seg ^ e | seg ^ s |
  seg ^ se``, the DAVIS kit's), which it runs unless its optional Cython op is built.

Extra predicted ids (``davis``, ``present``; see :data:`EXTRA_IDS`) leave the sequence unscored by default.
Global metrics are means over all objects of all sequences (``lvos_official``: see above).
"""

from __future__ import annotations

import csv
import io
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from tqdm import tqdm

from stcnbuf.io import atomic_write_text, read_label_png
from stcnbuf.scoring.metrics import boundary_f, jaccard, statistics
from stcnbuf.scoring.protocols import PROTOCOLS

if TYPE_CHECKING:  # worker processes import this module: it stays free of torch
    from stcnbuf.datasets.sequence import ObjectRange, VideoSequence

VOID = 255
#: Columns of the global CSV, in the kit's order; ``ObjectScore`` attribute of each per-object mean.
GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
#: The LVOS toolkit's columns: the kit's and V-Mean (mean over objects of the std of their per-frame J&F).
LVOS_COLUMNS = GLOBAL_COLUMNS + ("V-Mean",)
#: The official LVOS toolkit's global columns (``evaluation_method.py``), see :func:`lvos_official_globals`.
LVOS_OFFICIAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-seen-Mean", "J-unseen-Mean", "F-Mean", "F-seen-Mean",
                         "F-unseen-Mean", "V-Mean", "V-seen-Mean", "V-unseen-Mean")
#: What a predicted id that the objects lack does (``davis``, ``present``): ``error``, the sequence is not scored
#: (its reason in :attr:`EvaluationResult.unscored`, as the DAVIS kit stops); ``ignore``, its objects are scored
#: with the id's pixels as background of each (and a note), as vos-benchmark scores.
EXTRA_IDS = ("error", "ignore")
_ATTRIBUTES = {"J-Mean": "j_mean", "J-Recall": "j_recall", "J-Decay": "j_decay",
               "F-Mean": "f_mean", "F-Recall": "f_recall", "F-Decay": "f_decay", "V-Mean": "v"}


@dataclass(eq=False)
class ObjectScore:
    """One object's per-frame J and F over the scored frames, their statistics (``statistics``) and ``v``, the
    standard deviation of its per-frame J&F (LVOS's V)."""

    name: str  #: ``<sequence>_<object id>``
    j: np.ndarray = field(repr=False)
    f: np.ndarray = field(repr=False)
    #: where in the sequence each value was measured, as a fraction in [0, 1) of its (annotated) frames
    positions: np.ndarray | None = field(default=None, repr=False)
    j_mean: float = field(init=False)
    j_recall: float = field(init=False)
    j_decay: float = field(init=False)
    f_mean: float = field(init=False)
    f_recall: float = field(init=False)
    f_decay: float = field(init=False)
    v: float = field(init=False)

    def __post_init__(self) -> None:
        self.j_mean, self.j_recall, self.j_decay = statistics(self.j)
        self.f_mean, self.f_recall, self.f_decay = statistics(self.f)
        self.v = float(np.std((np.asarray(self.j) + np.asarray(self.f)) / 2)) if len(self.j) else float("nan")

    @property
    def sequence(self) -> str:
        """The sequence the object belongs to."""
        return self.name.rsplit("_", 1)[0]


@dataclass
class EvaluationResult:
    """The scores of all objects of the scored sequences, in job order, and why the others were not scored."""

    objects: list[ObjectScore]
    unscored: dict[str, str] = field(default_factory=dict)  #: sequence -> the reason it could not be scored
    notes: dict[str, str] = field(default_factory=dict)  #: sequence -> what a reader of its scores should know

    def global_metrics(self, sequences: set[str] | None = None) -> dict[str, float]:
        """Object-weighted means, keyed by ``LVOS_COLUMNS`` (``GLOBAL_COLUMNS`` and V-Mean); J&F-Mean is the
        mean of J-Mean and F-Mean. ``sequences``: only the objects of these (e.g. LVOS's unseen videos)."""
        objects = [o for o in self.objects if sequences is None or o.sequence in sequences]
        if not objects:
            reasons = "; ".join(f"{name}: {why}" for name, why in list(self.unscored.items())[:5])
            raise ValueError(f"no object was scored{' (' + reasons + ')' if reasons else ''}")
        means = {key: float(np.mean([getattr(o, attr) for o in objects])) for key, attr in _ATTRIBUTES.items()}
        return {"J&F-Mean": (means["J-Mean"] + means["F-Mean"]) / 2, **means}

    def headline(self, protocol: str, unseen: list[str] | None = None) -> dict[str, float]:
        """The global figures a protocol reports: :func:`lvos_official_globals` under ``lvos_official``, else
        :meth:`global_metrics`."""
        return lvos_official_globals(self, unseen) if protocol == "lvos_official" else self.global_metrics()

    def by_time(self, bins: int = 10) -> list[float | None]:
        """J&F in each ``1/bins`` of the sequences' length (a forgetting curve): per bin, the mean over the
        objects with frames there of their mean (J + F) / 2 in it; None where no object has a frame."""
        sums, counts = np.zeros(bins), np.zeros(bins)
        for o in self.objects:
            if o.positions is None:
                continue
            which = np.minimum((np.asarray(o.positions) * bins).astype(int), bins - 1)
            for b in np.unique(which):
                sums[b] += float(np.mean((o.j[which == b] + o.f[which == b]) / 2))
                counts[b] += 1
        return [float(s / c) if c else None for s, c in zip(sums, counts)]


def lvos_official_globals(result: EvaluationResult, unseen: list[str] | None) -> dict[str, float]:
    """The official LVOS toolkit's headline figures (``evaluation_method.py``): J, F and V averaged over the
    objects of the seen videos and over those of the ``unseen`` ones, then J&F ``= (J_seen + F_seen + J_unseen +
    F_unseen) / 4`` and J, F, V the mean of their two groups. A group without objects is NaN, and so are the
    figures that use it, as the toolkit prints them (keyed by :data:`LVOS_OFFICIAL_COLUMNS`)."""
    if not result.objects:
        raise ValueError("no object was scored")
    names = set(unseen or ())
    groups = {"seen": [o for o in result.objects if o.sequence not in names],
              "unseen": [o for o in result.objects if o.sequence in names]}
    means = {f"{metric}-{group}-Mean": float(np.mean([getattr(o, attr) for o in objects])) if objects else math.nan
             for group, objects in groups.items() for metric, attr in (("J", "j_mean"), ("F", "f_mean"), ("V", "v"))}
    both = {metric: (means[f"{metric}-seen-Mean"] + means[f"{metric}-unseen-Mean"]) / 2 for metric in "JFV"}
    headline = {"J&F-Mean": (both["J"] + both["F"]) / 2, "J-Mean": both["J"], "F-Mean": both["F"],
                "V-Mean": both["V"], **means}
    return {key: headline[key] for key in LVOS_OFFICIAL_COLUMNS}


@dataclass
class SequenceJob:
    """The label PNGs of one sequence, one ground-truth and one prediction path per frame.

    Under ``davis`` the predictions of the first and the last frame are not read (those frames are not scored).
    ``gt_binary``: DAVIS 2016 grayscale masks, any nonzero pixel is object 1 (255 is the object, not void).
    ``extra_ids``: one of :data:`EXTRA_IDS`.
    """

    name: str
    gt_paths: list[Path]
    pred_paths: list[Path]
    gt_binary: bool = False
    protocol: str = "davis"  #: ``davis`` (every frame, in order); the others: the annotated frames, in order
    #: ``lvos*``: the frame numbers of ``gt_paths`` and each object's range (:class:`~stcnbuf.datasets.sequence.ObjectRange`)
    frame_numbers: list[int] | None = None
    ranges: dict[int, ObjectRange] | None = None
    extra_ids: str = "error"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown scoring protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        check_extra_ids(self.extra_ids)
        if self.protocol.startswith("lvos") and (self.ranges is None or self.frame_numbers is None):
            raise ValueError(f"sequence {self.name}: the {self.protocol} protocol scores each object on its range "
                             "from the dataset's meta file, and this job has none (score LVOS with data=lvos)")


def check_workers(workers: int | None) -> None:
    """Refuse a number of scoring processes below 1 (``None``: one per core where the work pays for them)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers (scoring processes) must be at least 1, or null for one per core, got {workers!r}")


def check_extra_ids(extra_ids: str) -> None:
    """Refuse a value that is not one of :data:`EXTRA_IDS`."""
    if extra_ids not in EXTRA_IDS:
        raise ValueError(f"unknown extra_ids {extra_ids!r}; choose one of {', '.join(EXTRA_IDS)}")


def sequence_job(sequence: VideoSequence, prediction_dir: Path, gt_binary: bool = False,
                 protocol: str = "davis", extra_ids: str = "error") -> SequenceJob:
    """The job scoring ``prediction_dir/<frame>.png`` against ``sequence``'s ground truth: under ``davis`` it
    must cover every frame (a ``ValueError`` names the frames without it); under ``present`` the annotated
    frames are scored, at least two of them; under ``lvos*`` the annotated frames of the sequence's object
    ranges. ``extra_ids``: one of :data:`EXTRA_IDS`."""
    if protocol != "davis":
        annotated = sorted(sequence.mask_paths)
        if protocol == "present" and len(annotated) < 2:
            raise ValueError(f"sequence {sequence.name}: ground truth on {len(annotated)} frame, but objects are "
                             "scored on the annotated frames after their first appearance: at least 2 are needed")
        lvos = protocol.startswith("lvos")
        return SequenceJob(sequence.name, [sequence.mask_paths[i] for i in annotated],
                           [Path(prediction_dir) / f"{sequence.frame_name(i)}.png" for i in annotated],
                           gt_binary=gt_binary, protocol=protocol, ranges=sequence.object_ranges if lvos else None,
                           frame_numbers=[int(sequence.frame_name(i)) for i in annotated] if lvos else None,
                           extra_ids=extra_ids)
    missing = [i for i in range(len(sequence)) if i not in sequence.mask_paths]
    if missing:
        folder = sequence.mask_paths[min(sequence.mask_paths)].parent
        names = ", ".join(f"{sequence.frame_name(i)}.png" for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(f"no ground truth for {len(missing)} of {len(sequence)} frames in {folder} ({names}): "
                         "every frame needs its mask to be scored")
    return SequenceJob(sequence.name, [sequence.mask_paths[i] for i in range(len(sequence))],
                       [Path(prediction_dir) / f"{sequence.frame_name(i)}.png" for i in range(len(sequence))],
                       gt_binary=gt_binary, extra_ids=extra_ids)


def _scored_frames(name: str, num_frames: int) -> slice:
    if num_frames < 3:
        raise ValueError(f"sequence {name}: {num_frames} frame(s), but the first and the last are not scored; "
                         "at least 3 are needed")
    return slice(1, num_frames - 1)


def _num_objects(first_gt: np.ndarray) -> int:
    return int(np.where(first_gt == VOID, 0, first_gt).max(initial=0))


#: scored frames per task: long sequences are scored in blocks of this many frames, in parallel
BLOCK_FRAMES = 200
#: by default, scoring starts worker processes only from this many scored frames on (below, one process is
#: faster: each worker costs a start and the import of this module)
PARALLEL_FRAMES = 1000


@dataclass
class BlockScores:
    """Per-frame results on a run of consecutive scored frames of one sequence."""

    gt_ids: list[set[int]]  #: the ids (0 and void aside) of each frame's ground truth
    pred_ids: set[int]  #: every id of the predictions read
    #: id -> (J, F) per frame, for the ids scored here; an id absent from a frame's ground truth and prediction
    #: scores J = F = 1 there
    values: dict[int, tuple[np.ndarray, np.ndarray]]
    unread: dict[int, str] = field(default_factory=dict)  #: frame (in the block) -> why its prediction is missing

    def j_f(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        ones = np.ones(len(self.gt_ids))
        return self.values.get(k, (ones, ones))


def score_block(gt: np.ndarray, pred: np.ndarray, ids: list[int] | None = None) -> BlockScores:
    """J and F per frame of uint8 label maps ``gt``, ``pred`` ``[T, H, W]`` for ``ids`` (default: every id of
    either), void counted as background."""
    gt = np.where(gt == VOID, 0, gt)
    gt_ids = [set(np.flatnonzero(np.bincount(frame.ravel(), minlength=256)).tolist()) - {0} for frame in gt]
    pred_ids = set(np.flatnonzero(np.bincount(pred.ravel(), minlength=256)).tolist()) - {0}
    values = {}
    for k in sorted(set().union(pred_ids, *gt_ids) if ids is None else ids):
        gt_k, pred_k = gt == k, pred == k
        values[k] = (jaccard(gt_k, pred_k), boundary_f(gt_k, pred_k))
    return BlockScores(gt_ids, pred_ids, values)


def _joined(parts: list[BlockScores], k: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = [part.j_f(k) for part in parts]
    return np.concatenate([j for j, _ in pairs]), np.concatenate([f for _, f in pairs])


def _on_extra_ids(name: str, found: str, extra_ids: str) -> str:
    """Predicted ids that the objects lack (``found`` says which): a ``ValueError`` under ``extra_ids="error"``,
    the sequence's note under ``"ignore"``."""
    if extra_ids == "error":
        raise ValueError(f"sequence {name}: {found} (with extra_ids=ignore, or --extra-ids ignore, it is scored "
                         "without them)")
    return f"{found}: ignored, as background of every object (extra_ids=ignore)"


def _notes(*notes: str | None) -> str | None:
    """The notes that are given, in one."""
    return "; ".join(note for note in notes if note) or None


def _merge_davis(name: str, num_objects: int, parts: list[BlockScores], num_frames: int,
                 extra_ids: str) -> tuple[list[ObjectScore], str | None]:
    """Objects ``1..num_objects`` over the scored frames (the blocks, in order) of a ``num_frames`` sequence, and
    the note on predicted ids above ``num_objects``."""
    top = max(set().union(*(part.pred_ids for part in parts)), default=0)
    note = _on_extra_ids(name, f"the prediction holds id {top}, but the first ground-truth frame has "
                               f"{num_objects} object(s)", extra_ids) if top > num_objects else None
    positions = _davis_positions(num_frames)
    return [ObjectScore(f"{name}_{k}", *_joined(parts, k), positions) for k in range(1, num_objects + 1)], note


def _davis_positions(num_frames: int) -> np.ndarray:
    return np.arange(1, num_frames - 1) / num_frames


def id_gaps_note(first_gt: np.ndarray) -> str | None:
    """Under the DAVIS protocol: which ids of ``1..N`` the first ground-truth frame lacks (they are scored
    anyway, J = F = 1 where prediction and ground truth are both empty), or None."""
    top = _num_objects(first_gt)
    absent = sorted(set(range(1, top + 1)) - set(np.unique(first_gt).tolist()))
    if not absent:
        return None
    listed = ", ".join(map(str, absent[:10])) + (" ..." if len(absent) > 10 else "")
    return (f"the first ground-truth frame has ids up to {top} but not {listed}: the DAVIS protocol scores "
            f"ids 1..{top}, absent ones as J = F = 1 where nothing is predicted (a layout other than DAVIS "
            "scores the ids present: data=folder)")


def object_ranges(gt_ids: list[set[int]]) -> dict[int, np.ndarray]:
    """Under the ``present`` protocol: every id of the ground truth (its ids per frame, void and 0 aside) and
    the positions it is scored on (after its first appearance, up to its last)."""
    present: dict[int, list[int]] = {}
    for t, ids in enumerate(gt_ids):
        for k in ids:
            present.setdefault(int(k), []).append(t)
    return {k: np.arange(frames[0] + 1, frames[-1] + 1) for k, frames in sorted(present.items())}


def _merge_present(name: str, parts: list[BlockScores], extra_ids: str) -> tuple[list[ObjectScore], str | None]:
    """Objects present in the ground truth of the blocks (every annotated frame, in order), each on its own
    range."""
    gt_ids = [ids for part in parts for ids in part.gt_ids]
    ranges = object_ranges(gt_ids)
    if not ranges:
        raise ValueError(f"sequence {name}: the ground truth holds no object")
    extra = sorted(set().union(*(part.pred_ids for part in parts)) - set(ranges))
    extra_note = _on_extra_ids(name, f"the prediction holds id(s) {extra[:10]} that its ground truth lacks "
                                     f"(objects: {sorted(ranges)})", extra_ids) if extra else None
    unread, offset = {}, 0
    for part in parts:
        unread.update({offset + t: why for t, why in part.unread.items()})
        offset += len(part.gt_ids)
    scores, unscored = [], []
    for k, positions in ranges.items():
        if not len(positions):
            unscored.append(k)
            continue
        missing = [t for t in positions.tolist() if t in unread]
        if missing:
            raise ValueError(unread[missing[0]])
        j, f = _joined(parts, k)
        scores.append(ObjectScore(f"{name}_{k}", j[positions], f[positions], positions / len(gt_ids)))
    if not scores:
        raise ValueError(f"sequence {name}: no annotated frame follows the first appearance of any of its objects "
                         f"{sorted(ranges)} (its masks are inputs only)")
    note = (f"object(s) {unscored} appear on no annotated frame after their first one and are not scored"
            if unscored else None)
    return scores, _notes(extra_note, note)


def lvos_frames(span: ObjectRange, annotated: list[int], official: bool) -> tuple[list[int], int]:
    """The frame numbers an object with range ``span`` is scored on, given the annotated frame numbers, and
    the number of values it gets (more than the frames where the official toolkit leaves slots at 0).

    Official: the toolkit walks ``range(start, end, 5)``, skips position 0 (the given mask) and position
    ``frame_nums - 1``, and writes position ``i`` into slot ``i - 1`` of ``frame_nums - 2`` slots."""
    if not official:
        frames = [t for t in annotated if span.start < t <= span.end]
        return frames, len(frames)
    walk = list(range(span.start, span.end, 5))
    if span.frame_nums < 2 or len(walk) > span.frame_nums:
        raise ValueError(f"frame_nums {span.frame_nums} in the meta file, but range({span.start}, {span.end}, 5) "
                         f"walks {len(walk)} frames: the official toolkit fails on it (frame_nums - 2 slots; "
                         "score with protocol lvos)")
    return [t for i, t in enumerate(walk) if 0 < i != span.frame_nums - 1], span.frame_nums - 2


def _official_lvos_statistics(score: ObjectScore) -> None:
    """The official LVOS toolkit's Decay (0) and V (``sqrt(round(variance, 4))``) on ``score``."""
    jf = (score.j + score.f) / 2
    score.j_decay = score.f_decay = 0.0
    score.v = math.sqrt(round(float(np.mean((np.mean(jf) - jf) ** 2)), 4)) if len(jf) else float("nan")


def _score_lvos(job: SequenceJob) -> tuple[list[ObjectScore], str | None]:
    """Score the objects of an LVOS job (see the module), reading each scored frame once and keeping only
    its per-object J and F."""
    official = job.protocol == "lvos_official"
    where = dict(zip(job.frame_numbers, range(len(job.gt_paths))))
    last = max(span.end for span in job.ranges.values())
    plans: dict[int, tuple[list[int], int]] = {}
    objects = job.ranges.items() if official else sorted(job.ranges.items())  # the toolkit: the meta file's order
    for k, span in objects:
        try:
            plans[k] = lvos_frames(span, job.frame_numbers, official)
        except ValueError as error:
            raise ValueError(f"sequence {job.name}: object {k}: {error}") from None
    scored_on = {k: set(frames) for k, (frames, _) in plans.items()}
    needed = sorted(set().union(*scored_on.values()))
    missing = [t for t in needed if t not in where]
    if missing:
        raise ValueError(f"sequence {job.name}: frame(s) {missing[:5]} are scored but have no mask in "
                         f"{job.gt_paths[0].parent}")
    shape = read_label_png(job.gt_paths[0]).shape
    values: dict[tuple[int, int], tuple[float, float]] = {}
    for t in needed:
        gt, pred = _read(job.gt_paths[where[t]], shape), _read(job.pred_paths[where[t]], shape)
        present = set(np.unique(gt).tolist()) - {0, VOID}
        extra = sorted(present - set(job.ranges))
        if extra:
            raise ValueError(f"{job.gt_paths[where[t]]} holds id(s) {extra} that the meta file does not list for "
                             f"{job.name} (objects: {sorted(job.ranges)})")
        outside = sorted(k for k in present if not job.ranges[k].start <= t <= job.ranges[k].end)
        if outside:
            span = job.ranges[outside[0]]
            raise ValueError(f"{job.gt_paths[where[t]]} holds object {outside[0]}, whose range in the meta file is "
                             f"{span.start}..{span.end}: meta file and masks disagree")
        for k, frames in scored_on.items():
            if t in frames:
                gt_k, pred_k = gt[None] == k, pred[None] == k
                values[k, t] = float(jaccard(gt_k, pred_k)[0]), float(boundary_f(gt_k, pred_k)[0])
    scores, unscored = [], []
    position = {k: n for n, k in enumerate(job.ranges, 1)}  # the meta file's order: the toolkit's object names
    for k, (frames, slots) in plans.items():
        if not slots and not official:  # the toolkit keeps such an object, as NaN (and so its group's figures)
            unscored.append(k)
            continue
        j, f = np.zeros(slots), np.zeros(slots)
        for n, t in enumerate(frames):
            j[n], f[n] = values[k, t]
        name = f"{job.name}_{position[k] if official else k}"
        score = ObjectScore(name, j, f, None if official else np.asarray(frames) / (last + 1))
        if official:
            _official_lvos_statistics(score)
        scores.append(score)
    if not scores:
        raise ValueError(f"sequence {job.name}: no object has an annotated frame after its first one")
    note = f"object(s) {unscored} have no annotated frame after their first one and are not scored" if unscored else None
    return scores, note


def score_sequence(name: str, gt_labels: np.ndarray, pred_labels: np.ndarray, protocol: str = "davis",
                   extra_ids: str = "error") -> list[ObjectScore]:
    """Score one sequence from uint8 label maps ``[T, H, W]`` of all its frames (first and last included)
    under ``protocol`` (see the module); ``extra_ids``: one of :data:`EXTRA_IDS`."""
    gt_labels, pred_labels = np.asarray(gt_labels), np.asarray(pred_labels)
    if gt_labels.ndim != 3 or gt_labels.shape != pred_labels.shape:
        raise ValueError(f"sequence {name}: ground truth {gt_labels.shape} and prediction {pred_labels.shape} "
                         "must be label maps [T, H, W] of one shape")
    if protocol.startswith("lvos"):
        raise ValueError(f"sequence {name}: the {protocol} protocol needs the objects' ranges from the meta file; "
                         "score LVOS with eval.py data=lvos")
    SequenceJob(name, [], [], protocol=protocol, extra_ids=extra_ids)  # validates the protocol and extra_ids
    if protocol == "present":
        return _merge_present(name, [score_block(gt_labels, pred_labels)], extra_ids)[0]
    scored = _scored_frames(name, len(gt_labels))
    num_objects = _num_objects(gt_labels[0])
    block = score_block(gt_labels[scored], pred_labels[scored], list(range(1, num_objects + 1)))
    return _merge_davis(name, num_objects, [block], len(gt_labels), extra_ids)[0]


def _read(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    labels = read_label_png(path)
    if labels.shape != shape:
        raise ValueError(f"{path}: {labels.shape[1]}×{labels.shape[0]} pixels, but the sequence's ground truth "
                         f"is {shape[1]}×{shape[0]}")
    return labels


@dataclass(frozen=True)
class FrameBlock:
    """Frames ``start .. stop - 1`` (positions in ``job.gt_paths``) of a job, scored in one task."""

    job: SequenceJob
    start: int
    stop: int


def frame_blocks(job: SequenceJob, size: int = BLOCK_FRAMES) -> list[FrameBlock]:
    """The scored frames of a ``davis`` or ``present`` job in blocks of at most ``size`` frames."""
    if job.protocol.startswith("lvos"):
        raise ValueError(f"sequence {job.name}: {job.protocol} jobs are scored whole")
    if len(job.pred_paths) != len(job.gt_paths):
        raise ValueError(f"sequence {job.name}: {len(job.pred_paths)} prediction paths for "
                         f"{len(job.gt_paths)} ground-truth frames")
    scored = _scored_frames(job.name, len(job.gt_paths)) if job.protocol == "davis" else slice(0, len(job.gt_paths))
    return [FrameBlock(job, a, min(a + size, scored.stop)) for a in range(scored.start, scored.stop, size)]


def _score_frame_block(block: FrameBlock) -> BlockScores:
    """Read a block's PNGs and score them: under ``davis`` ids ``1..N`` of the first ground-truth frame, and
    every prediction must be there; under ``present`` every id, a missing prediction noted (it is an error
    only on a frame where an object is scored)."""
    job = block.job
    first = read_label_png(job.gt_paths[0])
    gt = np.stack([_read(p, first.shape) for p in job.gt_paths[block.start:block.stop]])
    pred = np.zeros_like(gt)
    unread = {}
    for t, path in enumerate(job.pred_paths[block.start:block.stop]):
        try:
            pred[t] = _read(path, first.shape)
        except (OSError, ValueError) as error:
            if job.protocol == "davis":
                raise
            unread[t] = str(error)
    if job.gt_binary:
        first, gt = (first > 0).astype(np.uint8), (gt > 0).astype(np.uint8)
    ids = list(range(1, _num_objects(first) + 1)) if job.protocol == "davis" else None
    scores = score_block(gt, pred, ids)
    scores.unread = unread
    return scores


def _merge_blocks(job: SequenceJob, parts: list[BlockScores]) -> tuple[list[ObjectScore], str | None]:
    if job.protocol == "present":
        return _merge_present(job.name, parts, job.extra_ids)
    first = read_label_png(job.gt_paths[0])
    if job.gt_binary:
        first = (first > 0).astype(np.uint8)
    scores, note = _merge_davis(job.name, _num_objects(first), parts, len(job.gt_paths), job.extra_ids)
    return scores, _notes(note, id_gaps_note(first))


def _run_task(task: SequenceJob | FrameBlock) -> tuple[list[ObjectScore], str | None] | BlockScores | str:
    """An LVOS job's scores and note, or a block's scores; or why they cannot be computed (a missing or
    unreadable file, a size mismatch): one such sequence does not cancel the others."""
    try:
        return _score_lvos(task) if isinstance(task, SequenceJob) else _score_frame_block(task)
    except (OSError, ValueError) as error:
        return str(error)


def _task_frames(task: SequenceJob | FrameBlock) -> int:
    return len(task.gt_paths) if isinstance(task, SequenceJob) else task.stop - task.start


def score_jobs(jobs: list[SequenceJob], workers: int | None = None, progress: bool = True) -> EvaluationResult:
    """Score sequences in ``workers`` processes (1 runs here; default: one per CPU from :data:`PARALLEL_FRAMES`
    scored frames on, else 1), with a progress bar.

    Sequences under ``davis`` and ``present`` are split into blocks of :data:`BLOCK_FRAMES` frames, so that one
    long sequence uses every worker. A sequence that cannot be scored is left out with its reason
    (:attr:`EvaluationResult.unscored`); a worker process that dies (killed, out of memory) raises a
    ``RuntimeError`` saying so.
    """
    check_workers(workers)
    reasons: dict[int, str] = {}
    tasks: list[tuple[int, SequenceJob | FrameBlock]] = []
    for i, job in enumerate(jobs):
        if job.protocol.startswith("lvos"):
            tasks.append((i, job))
            continue
        try:
            tasks += [(i, block) for block in frame_blocks(job)]
        except ValueError as error:
            reasons[i] = str(error)
    total = sum(_task_frames(t) for _, t in tasks)
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_FRAMES else 1
    with tqdm(total=total, desc="J&F", unit="frame", disable=not progress) as bar:
        if workers == 1 or len(tasks) <= 1:
            outcomes = []
            for _, task in tasks:
                outcomes.append(_run_task(task))
                bar.update(_task_frames(task))
        else:
            # Fresh (spawned) workers: forking a process whose thread pools (PyTorch, OpenCV) are running can
            # deadlock the children. One OpenCV thread per worker: the processes already use the cores.
            with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                                     initializer=cv2.setNumThreads, initargs=(1,)) as pool:
                futures = {pool.submit(_run_task, task): task for _, task in tasks}
                try:
                    for future in as_completed(futures):
                        future.result()
                        bar.update(_task_frames(futures[future]))
                except BrokenProcessPool as error:
                    raise RuntimeError(f"a scoring worker process died (killed, or out of memory?) while scoring "
                                       f"{len(jobs)} sequences in {workers} processes: rerun with fewer workers "
                                       "(eval.py workers=1)") from error
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
                outcomes = [future.result() for future in futures]
    results: dict[int, object] = dict(reasons)
    parts: dict[int, list[BlockScores]] = {}
    for (i, task), outcome in zip(tasks, outcomes):
        if i in results and isinstance(results[i], str):
            continue
        if isinstance(outcome, BlockScores):
            parts.setdefault(i, []).append(outcome)
        else:
            results[i] = outcome
    for i, blocks in parts.items():
        if i not in results:
            try:
                results[i] = _merge_blocks(jobs[i], blocks)
            except (OSError, ValueError) as error:
                results[i] = str(error)
    unscored = {jobs[i].name: r for i, r in sorted(results.items()) if isinstance(r, str)}
    scored = [(jobs[i], r) for i, r in sorted(results.items()) if not isinstance(r, str)]
    return EvaluationResult([obj for _, (objects, _) in scored for obj in objects], unscored,
                            {job.name: note for job, (_, note) in scored if note})


def _write_csv(path: str | os.PathLike, header: tuple[str, ...], rows: list[list]) -> Path:
    """Write a CSV atomically; floats as ``repr`` (full precision)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, text.getvalue())


def table_names(set_name: str) -> tuple[str, str]:
    """The official kits' file names of the global and the per-sequence table of a set (``val``, ``valid``, ...)."""
    return f"global_results-{set_name}.csv", f"per-sequence_results-{set_name}.csv"


def write_global_csv(result: EvaluationResult, path: str | os.PathLike, columns: tuple[str, ...] = GLOBAL_COLUMNS,
                     metrics: dict[str, float] | None = None) -> Path:
    """One row of ``columns`` from ``metrics`` (default: :meth:`EvaluationResult.global_metrics`): by default the
    kit's J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay (``LVOS_COLUMNS`` adds V-Mean;
    ``LVOS_OFFICIAL_COLUMNS`` are the LVOS toolkit's)."""
    metrics = result.global_metrics() if metrics is None else metrics
    return _write_csv(path, columns, [[metrics[key] for key in columns]])


def write_per_sequence_csv(result: EvaluationResult, path: str | os.PathLike, with_v: bool = False) -> Path:
    """One row per object: Sequence (``<sequence>_<id>``), J-Mean, F-Mean (and V-Mean, as the LVOS toolkit)."""
    header = ("Sequence", "J-Mean", "F-Mean") + (("V-Mean",) if with_v else ())
    rows = [[o.name, o.j_mean, o.f_mean] + ([o.v] if with_v else []) for o in result.objects]
    return _write_csv(path, header, rows)
