"""Plans: the visits of a run over a video, as plain data (no network, no frames).

A plan says, for every visit in order, which frame is processed, what happens there (:class:`Action`), what the
frame leaves in memory (:class:`WriteMode`), whether a new run of neighbouring frames begins there (the
temporary ring is emptied) and whether the visit's prediction is an output. :func:`stream_plan` and
:func:`offline_plan` build the two schedules every tool uses; :mod:`stcnbuf.engine.runner` executes them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from stcnbuf.engine.orderings import ORDERINGS, burn_in_order


class WriteMode(enum.Enum):
    """What a processed frame leaves in memory."""

    NONE = "none"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


class Action(enum.Enum):
    """What happens at a visit."""

    START = "start"              #: the memory starts from the frame's masks (an annotated frame)
    ADD_OBJECTS = "add_objects"  #: the frame's masks add objects (or replace tracked ones' predictions)
    SEGMENT = "segment"          #: the frame is segmented from memory
    BURN_IN = "burn_in"          #: a burn-in visit: segmented from memory to fill it, no output


@dataclass(frozen=True)
class Visit:
    """One step of a plan."""

    frame: int
    action: Action
    write: WriteMode
    new_run: bool = False
    output: bool = False

    @property
    def annotated(self) -> bool:
        return self.action in (Action.START, Action.ADD_OBJECTS)


@dataclass(frozen=True)
class Plan:
    """The visits of a run over a video of ``num_frames`` frames, in order."""

    num_frames: int
    visits: Tuple[Visit, ...]

    def __len__(self) -> int:
        return len(self.visits)

    def __getitem__(self, position: int) -> Visit:
        return self.visits[position]

    @property
    def outputs(self) -> List[int]:
        """Frames whose prediction is an output, in visit order."""
        return [v.frame for v in self.visits if v.output]

    @property
    def burn_in_visits(self) -> int:
        return sum(v.action is Action.BURN_IN for v in self.visits)

    def uncovered(self) -> List[int]:
        """Frames no visit outputs (those before the first annotation of a plan without the backward run)."""
        covered = set(self.outputs)
        return [i for i in range(self.num_frames) if i not in covered]


def write_mode(frame: int, anchor: int, mem_every: int, ring: bool) -> WriteMode:
    """STCN's schedule: permanent memory every ``mem_every`` frames counted from the annotated frame
    ``anchor``, the temporary ring (if any) for the others."""
    if abs(frame - anchor) % mem_every == 0:
        return WriteMode.PERMANENT
    return WriteMode.TEMPORARY if ring else WriteMode.NONE


def live_visit(frame: int, mem_every: int, ring: bool) -> Visit:
    """The visit of ``frame`` of a live source, whose frames come forward from the annotated frame 0 without a
    known end: what :func:`stream_plan` does at that frame."""
    if frame == 0:
        return Visit(0, Action.START, WriteMode.PERMANENT, True, True)
    return Visit(frame, Action.SEGMENT, write_mode(frame, 0, mem_every, ring), frame == 1, True)


def _check(num_frames: int, frames: Iterable[int], what: str) -> List[int]:
    frames = sorted({int(f) for f in frames})
    outside = [f for f in frames if not 0 <= f < num_frames]
    if outside:
        raise ValueError(f"{what} {outside} outside the video (0..{num_frames - 1})")
    return frames


def _ordered_runs(num_frames: int, start: int, annotated: Sequence[int], mem_every: int, ring: bool,
                  backward: bool) -> List[Visit]:
    """Forward from ``start`` to the end and (``backward``) from ``start`` back to the first frame; each run
    counts the memory schedule from the latest annotated frame it has visited, starting at ``start``."""
    runs = [range(start + 1, num_frames)] + ([range(start - 1, -1, -1)] if backward else [])
    visits: List[Visit] = []
    given = set(annotated)
    for run in runs:
        anchor = start
        for position, frame in enumerate(run):
            if frame in given:
                visits.append(Visit(frame, Action.ADD_OBJECTS, WriteMode.PERMANENT, position == 0, True))
                anchor = frame
            else:
                visits.append(Visit(frame, Action.SEGMENT, write_mode(frame, anchor, mem_every, ring), position == 0,
                                    True))
    if visits and visits[-1].action is Action.SEGMENT:  # nothing reads memory after the last visit
        last = visits[-1]
        visits[-1] = Visit(last.frame, last.action, WriteMode.NONE, last.new_run, last.output)
    return visits


def stream_plan(num_frames: int, annotated: Sequence[int], mem_every: int = 5, ring: bool = False,
                backward: bool = True, start: Optional[int] = None) -> Plan:
    """Streaming: start at the annotated frame ``start`` (default: the first), forward to the end, then, with
    ``backward``, from ``start`` back to the first frame. The other annotated frames, before or after
    ``start``, add their objects (or correct tracked ones) where a run reaches them.

    Args:
        num_frames: frames of the video.
        annotated: frames that carry masks (at least one).
        mem_every: permanent-memory period; ``ring``: the memory has a temporary ring.
        backward: segment the frames before ``start`` too (otherwise they get no visit; see
            :meth:`Plan.uncovered`).
        start: the annotated frame the memory starts from.
    """
    if mem_every < 1:
        raise ValueError(f"mem_every must be >= 1, got {mem_every}")
    frames = _check(num_frames, annotated, "annotated frame(s)")
    if not frames:
        raise ValueError("a plan needs at least one annotated frame")
    first = frames[0] if start is None else int(start)
    if first not in frames:
        raise ValueError(f"the plan starts at frame {first}, which is not annotated (annotated: {frames})")
    others = [f for f in frames if f != first]
    begin = Visit(first, Action.START, WriteMode.PERMANENT, True, True)
    return Plan(num_frames, (begin, *_ordered_runs(num_frames, first, others, mem_every, ring, backward)))


def offline_plan(num_frames: int, init_frame: int, mem_every: int = 5, ring: bool = False, order: str = "strided",
                 burn_in_passes: int = 1, seed: int = 0, backward: bool = True,
                 annotated: Optional[Sequence[int]] = None, burn_in_every_frame: bool = False) -> Plan:
    """Offline: start at ``init_frame``; ``burn_in_passes`` passes over the other frames in ``order``, each
    segmenting every ``mem_every``-th frame of the pass into permanent memory (the others would leave no
    trace) without the ring and without output; then the ordered final pass of :func:`stream_plan` from
    ``init_frame``. Further ``annotated`` frames add their objects in the final pass.

    ``burn_in_every_frame``: a pass segments every frame as a stream would (the ring, where the memory has
    one, holding the pass's previous frame), still writing every ``mem_every``-th one to permanent memory.
    """
    if order not in ORDERINGS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERINGS)}")
    if burn_in_passes < 0:
        raise ValueError(f"burn_in_passes must be >= 0, got {burn_in_passes}")
    if mem_every < 1:
        raise ValueError(f"mem_every must be >= 1, got {mem_every}")
    (init,) = _check(num_frames, [init_frame], "init_frame")
    others = [f for f in _check(num_frames, annotated or (), "annotated frame(s)") if f != init]
    visits = [Visit(init, Action.START, WriteMode.PERMANENT, True, True)]
    for pass_index in range(burn_in_passes):
        pass_order = burn_in_order(num_frames, init, order, seed, pass_index)
        if burn_in_every_frame:
            rest = WriteMode.TEMPORARY if ring else WriteMode.NONE
            visits += [Visit(frame, Action.BURN_IN, WriteMode.PERMANENT if (position + 1) % mem_every == 0 else rest,
                             position == 0) for position, frame in enumerate(pass_order)]
            continue
        chosen = [frame for position, frame in enumerate(pass_order) if (position + 1) % mem_every == 0]
        visits += [Visit(frame, Action.BURN_IN, WriteMode.PERMANENT, position == 0)
                   for position, frame in enumerate(chosen)]
    visits += _ordered_runs(num_frames, init, others, mem_every, ring, backward)
    return Plan(num_frames, tuple(visits))


__all__ = ["Action", "Plan", "Visit", "WriteMode", "live_visit", "offline_plan", "stream_plan", "write_mode"]
