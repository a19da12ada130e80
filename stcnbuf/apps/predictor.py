"""A video predictor in the shape of SAM 2's (``init_state``, ``add_new_mask``, ``propagate_in_video``, ...).

A thin layer over plans and the runner: the masks given so far make the plan the segment app would run
(:func:`~stcnbuf.engine.build.build_plan`, starting at the first frame given a mask), and
:func:`~stcnbuf.engine.runner.run_plan` executes it as far as the frames asked for need. The masks are those the
segment app writes for the same video, masks and settings. A mask added (or an object removed) after propagation
is a correction: the next propagation continues from the latest in-memory snapshot before the first visit it
affects (plan-prefix digests, :mod:`stcnbuf.engine.prefix`); the frames before are kept.

Example::

    predictor = VideoPredictor.from_checkpoint("stcn.pth", capacity=8, mem_every=5)
    state = predictor.init_state("video.mp4", shorter_side=480)
    predictor.add_new_mask(state, frame_idx=0, obj_id=1, mask=first_mask)
    for frame_idx, obj_ids, masks in predictor.propagate_in_video(state):
        ...  # masks: bool array [objects, H, W] at the video's size
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from stcnbuf.engine.build import build_plan, build_segmenter, resolve_device
from stcnbuf.engine.checkpoint import architecture_of, load_state, read_network_state
from stcnbuf.engine.labels import Annotation
from stcnbuf.engine.model.stcn import STCN
from stcnbuf.engine.plan import Plan
from stcnbuf.engine.prefix import annotation_digest, common_prefix, prefix_digests
from stcnbuf.engine.runner import Step, run_plan, written_labels
from stcnbuf.engine.segmenter import Segmenter
from stcnbuf.engine.settings import MemorySettings, OfflineInference, OnlineInference, inference_settings
from stcnbuf.runs.snapshots import thinned

#: one propagation result: the frame, the object ids, their masks ``[objects, H, W]`` (bool, the video's size)
FrameMasks = Tuple[int, List[int], np.ndarray]


@dataclass
class VideoState:
    """One video's prompts and propagation (make it with :meth:`VideoPredictor.init_state`)."""

    frames: Any                      #: working-size frames: a FrameSource or a sequence of ``H×W×3`` uint8
    num_frames: int
    video_size: Tuple[int, int]      #: ``(H, W)`` of the masks given and returned
    working_size: Tuple[int, int]
    segmenter: Segmenter
    masks: Dict[int, Dict[int, np.ndarray]] = field(default_factory=dict)  #: frame -> object -> bool mask
    plan: Optional[Plan] = None      #: the plan executed so far (positions ``0..position-1``)
    digests: List[str] = field(default_factory=list)
    position: int = 0
    outputs: Dict[int, np.ndarray] = field(default_factory=dict)        #: frame -> label map, video size
    output_at: Dict[int, int] = field(default_factory=dict)            #: frame -> plan position
    snapshots: Dict[int, dict] = field(default_factory=dict)           #: plan position -> segmenter state
    recomputed: int = 0              #: outputs computed by the latest propagation
    reused: int = 0                  #: outputs the latest propagation kept from earlier ones

    @property
    def obj_ids(self) -> List[int]:
        """The tracked object ids, in the order they were first given."""
        ids: List[int] = []
        for frame in self.masks.values():
            ids.extend(i for i in frame if i not in ids)
        return ids


class VideoPredictor:
    """Propagates masks through a video with a bounded memory; the methods follow SAM 2's video predictor.

    Args:
        net: the STCN network.
        device: ``cpu`` or ``cuda``.
        memory: :class:`~stcnbuf.engine.settings.MemorySettings` (or a mapping of its keys).
        inference: :class:`~stcnbuf.engine.settings.OnlineInference` / ``OfflineInference`` (or a mapping).
        snapshot_every: visits between the in-memory snapshots a correction continues from.
        snapshot_keep: snapshots kept per video, spread over the plan.
    """

    def __init__(self, net: STCN, device: str | torch.device = "cpu", memory: Any = None, inference: Any = None,
                 snapshot_every: int = 20, snapshot_keep: int = 10) -> None:
        if snapshot_every < 1 or snapshot_keep < 1:
            raise ValueError(f"snapshot_every={snapshot_every}, snapshot_keep={snapshot_keep}: give positive numbers")
        self.net, self.device = net, resolve_device(device)
        self.memory = memory if memory is not None else MemorySettings()
        self.inference = inference_settings(inference if inference is not None else OnlineInference())
        self.snapshot_every, self.snapshot_keep = int(snapshot_every), int(snapshot_keep)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "cpu", **settings: Any) -> "VideoPredictor":
        """A predictor with the network of ``path`` (any layout :mod:`stcnbuf.engine.checkpoint` reads; the
        architecture is read off the file). ``settings``: keys of the memory settings (``capacity``, ``policy``,
        ...), of the inference settings (``mode``, ``mem_every``, ``top_k``, ...; ``mode="offline"`` for the offline
        ones), ``snapshot_every`` and ``snapshot_keep``."""
        state = read_network_state(path)
        net = load_state(STCN(**architecture_of(state, path)), state, path)
        own = {k: settings.pop(k) for k in ("snapshot_every", "snapshot_keep") if k in settings}
        kind = OfflineInference if settings.get("mode") == "offline" else OnlineInference
        memory_keys = {f.name for f in dataclasses.fields(MemorySettings)}
        inference_keys = {f.name for f in dataclasses.fields(kind)}
        unknown = sorted(set(settings) - memory_keys - inference_keys)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}: memory keys {sorted(memory_keys)}, inference keys "
                             f"{sorted(inference_keys)}, snapshot_every, snapshot_keep")
        memory = {k: v for k, v in settings.items() if k in memory_keys}
        inference = {k: v for k, v in settings.items() if k in inference_keys}
        return cls(net, device, memory, inference, **own)

    # ------------------------------------------------------------------ state
    def init_state(self, video: str | os.PathLike | Sequence[np.ndarray], shorter_side: Optional[int] = 480,
                   **reader: Any) -> VideoState:
        """A video's state. ``video``: a video file or folder of frames (read at ``shorter_side`` pixels,
        ``reader``: the other :class:`~stcnbuf.datasets.video.VideoSource` options), or a sequence of ``H×W×3``
        uint8 RGB frames used as they are."""
        if isinstance(video, (str, os.PathLike)):
            from stcnbuf.datasets.video import VideoSource

            source = VideoSource(video, shorter_side, **reader)
            frames, size, working = (source.frame_source(self.inference.frame_cache_mb), tuple(source.original_size),
                                     tuple(source.working_size))
        else:
            if reader or not len(video):
                raise ValueError("frames given as arrays are used as they are: give at least one and no reader "
                                 f"options (got {sorted(reader)})")
            frames, size = video, tuple(np.asarray(video[0]).shape[:2])
            working = size
        segmenter = build_segmenter(self.net, self.memory, self.inference, self.device)
        return VideoState(frames, len(frames), size, working, segmenter)

    def reset_state(self, state: VideoState) -> None:
        """Forget the masks given and everything propagated."""
        state.masks.clear()
        self._forget_from(state, 0)
        state.plan, state.digests = None, []

    # ------------------------------------------------------------------ prompts
    def add_new_mask(self, state: VideoState, frame_idx: int, obj_id: int, mask: np.ndarray | torch.Tensor
                     ) -> FrameMasks:
        """Give object ``obj_id``'s mask (``H×W``, the video's size; nonzero = object) on frame ``frame_idx``;
        on a frame already propagated for a tracked object it is a correction. Returns the frame, the object ids
        and the masks given on that frame (empty for the objects given elsewhere)."""
        if not 0 <= int(frame_idx) < state.num_frames:
            raise ValueError(f"frame_idx={frame_idx} is outside the video (0..{state.num_frames - 1})")
        if int(obj_id) < 1:
            raise ValueError(f"obj_id={obj_id}: object ids are positive integers (0 is the background)")
        mask = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask)
        mask = mask.reshape(mask.shape[-2:]) if mask.ndim > 2 and mask.size == np.prod(mask.shape[-2:]) else mask
        if mask.shape != state.video_size:
            raise ValueError(f"the mask of object {obj_id} on frame {frame_idx} is {mask.shape[-1]}×{mask.shape[0]}, "
                             f"the video {state.video_size[1]}×{state.video_size[0]} (width×height)")
        if not mask.any():
            raise ValueError(f"the mask of object {obj_id} on frame {frame_idx} is empty: remove_object stops "
                             "tracking an object")
        state.masks.setdefault(int(frame_idx), {})[int(obj_id)] = mask > 0
        return self._given(state, int(frame_idx))

    def remove_object(self, state: VideoState, obj_id: int) -> List[int]:
        """Stop tracking ``obj_id`` (its masks are dropped from every frame); returns the ids still tracked.
        The next propagation recomputes from the first frame that gave it a mask."""
        if obj_id not in state.obj_ids:
            raise ValueError(f"object {obj_id} is not tracked (tracked: {state.obj_ids})")
        for frame in list(state.masks):
            state.masks[frame].pop(obj_id, None)
            if not state.masks[frame]:
                del state.masks[frame]
        return state.obj_ids

    # ------------------------------------------------------------------ propagation
    def propagate_in_video(self, state: VideoState, start_frame_idx: Optional[int] = None,
                           max_frame_num_to_track: Optional[int] = None, reverse: bool = False
                           ) -> Iterator[FrameMasks]:
        """Yield ``(frame_idx, obj_ids, masks)`` from ``start_frame_idx`` (default: the first frame given a mask)
        forward (``reverse``: backward) over ``max_frame_num_to_track`` frames after it (default: to the end).

        The frames come from the plan of the masks given so far, run as far as they need (the backward run
        follows the forward one, as in the segment app); what an earlier propagation computed, and no mask
        given since changes, is kept."""
        if not state.masks:
            raise RuntimeError("no masks given: call add_new_mask first")
        annotations, given = self._annotations(state)
        start = next(iter(state.masks))  # the first frame given a mask: the run starts there
        plan = build_plan(self.inference, state.segmenter, state.num_frames, sorted(annotations), start)
        digests = prefix_digests(plan, {f: annotation_digest(annotations[f], given[f]) for f in annotations})
        self._continue_from(state, common_prefix(state.digests[:state.position], digests))
        state.plan, state.digests = plan, digests
        state.reused, state.recomputed = len(state.outputs), 0
        first = start if start_frame_idx is None else int(start_frame_idx)
        if not 0 <= first < state.num_frames:
            raise ValueError(f"start_frame_idx={first} is outside the video (0..{state.num_frames - 1})")
        span = state.num_frames if max_frame_num_to_track is None else int(max_frame_num_to_track)
        frames = (range(first, max(first - span, 0) - 1, -1) if reverse
                  else range(first, min(first + span, state.num_frames - 1) + 1))
        uncovered = set(plan.uncovered())
        steps: Optional[Iterator[Step]] = None
        ids = state.obj_ids
        try:
            for frame in frames:
                while frame not in state.outputs and frame not in uncovered:
                    if steps is None:
                        steps = run_plan(state.segmenter, plan, state.frames, annotations, state.position)
                    self._record(state, next(steps), given)
                labels = state.outputs.get(frame)
                if labels is None:
                    masks = np.zeros((len(ids), *state.video_size), bool)
                else:
                    masks = labels[None] == np.asarray(ids, labels.dtype if max(ids) < 256 else np.int64)[:, None, None]
                yield frame, list(ids), masks
        finally:
            if steps is not None:
                steps.close()

    # ------------------------------------------------------------------ internals
    def _given(self, state: VideoState, frame: int) -> FrameMasks:
        ids = state.obj_ids
        empty = np.zeros(state.video_size, bool)
        return frame, ids, np.stack([state.masks[frame].get(i, empty) for i in ids])

    def _annotations(self, state: VideoState) -> Tuple[Dict[int, Annotation], Dict[int, Annotation]]:
        """The masks given, as label maps at the working size and at the video's size (later ids win overlaps)."""
        from stcnbuf.datasets.frames import resize_labels

        ids = state.obj_ids
        dtype = np.uint8 if max(ids) < 256 else np.int32
        work: Dict[int, Annotation] = {}
        given: Dict[int, Annotation] = {}
        for frame, objects in state.masks.items():
            labels = np.zeros(state.video_size, dtype)
            for obj_id in sorted(objects):
                labels[objects[obj_id]] = obj_id
            present = sorted(objects)
            given[frame] = Annotation(frame, labels, present)
            work[frame] = Annotation(frame, resize_labels(labels, state.working_size), present)
        return work, given

    def _record(self, state: VideoState, step: Step, given: Dict[int, Annotation]) -> None:
        if step.visit.output:
            state.outputs[step.visit.frame] = written_labels(step, state.video_size, given)
            state.output_at[step.visit.frame] = step.position
            state.recomputed += 1
        state.position = step.position + 1
        if state.position % self.snapshot_every == 0:
            state.snapshots[step.position] = copy.deepcopy(state.segmenter.state_dict())
            for position in thinned(state.snapshots, self.snapshot_keep):
                del state.snapshots[position]

    def _continue_from(self, state: VideoState, shared: int) -> None:
        """Keep what visits ``0..shared-1`` computed: continue after the latest snapshot among them."""
        if shared >= state.position:
            return
        kept = [p for p in state.snapshots if p < shared]
        if not kept:
            self._forget_from(state, 0)
            return
        position = max(kept)
        state.segmenter.load_state_dict(copy.deepcopy(state.snapshots[position]))
        self._forget_from(state, position + 1)

    def _forget_from(self, state: VideoState, position: int) -> None:
        """Drop what visits ``position..`` computed (``position`` 0: everything, the segmenter reset)."""
        if position == 0:
            state.segmenter.reset()
        for frame in [f for f, p in state.output_at.items() if p >= position]:
            del state.outputs[frame], state.output_at[frame]
        for snapshot in [p for p in state.snapshots if p >= position]:
            del state.snapshots[snapshot]
        state.position = position


__all__ = ["FrameMasks", "VideoPredictor", "VideoState"]
