"""Streaming segmentation: one frame in, its segmentation out, memory updated on STCN's schedule."""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from stcnbuf.engine.core import (SegmentationCore, autocast_context, compile_core, resolve_precision,
                                 warn_if_bf16_is_emulated, weight_dtype)
from stcnbuf.engine.memory.bank import MemoryBank
from stcnbuf.engine.model.aggregate import aggregate
from stcnbuf.engine.model.stcn import STCN
from stcnbuf.engine.network import inference_network
from stcnbuf.engine.objects import masks_to_tensor
from stcnbuf.engine.plan import WriteMode, write_mode
from stcnbuf.engine.prediction import Prediction
from stcnbuf.engine.preprocess import Padding, as_frame, frame_hw, normalize_frame, pad, padding_for, unpad


def key_confidence(probs: Tensor, size: Sequence[int]) -> Tensor:
    """How confident a prediction ``probs [K+1,H,W]`` is at each key position: the mean, over the pixels of
    the position's cell (``H/h × W/w``), of the probability of the pixel's most likely label; ``[h, w]``."""
    best = probs.float().amax(0)[None, None]
    return torch.nn.functional.adaptive_avg_pool2d(best, tuple(size))[0, 0]


class Segmenter:
    """Segments a video frame by frame with a :class:`~stcnbuf.engine.memory.MemoryBank`.

    The annotated frame is always stored; afterwards a frame enters permanent memory every ``mem_every``
    frames counted from the latest annotated frame, and (when the memory has a temporary ring) every
    other frame enters the ring. With ``policy=unbounded``, ``mem_every=5``, ``top_k=20`` and
    ``temp_size=0`` this is the published STCN evaluation schedule.

    Args:
        net: the STCN network (moved to ``device`` and set to eval mode).
        memory: the memory bank (on the same device).
        mem_every: permanent-memory period in frames.
        top_k: memory entries read per query position.
        device: ``cpu`` or ``cuda``.
        precision: ``fp32`` (default), ``bf16`` (CPU and CUDA autocast), ``fp16`` (CUDA autocast) or ``auto``
            (bf16 where the hardware has it natively, else fp32). bf16 and fp16 run on a copy of the
            network whose weights are stored in that precision.
        compile: ``none``, ``script`` (TorchScript) or ``compile`` (``torch.compile``).
        chunk_elements: bound on the affinity entries held at once during a read.
        channels_last: run the convolutions in the channels-last memory layout (faster on CPUs and GPUs;
            the network is converted in place).
        fold_batchnorm: fold BatchNorm into the preceding convolutions (on a copy of the network; faster,
            equal within float rounding). ``channels_last=False, fold_batchnorm=False`` runs the network's
            own computation, the closest to STCN's original numerics.
    """

    def __init__(self, net: STCN, memory: MemoryBank, mem_every: int = 5, top_k: int = 20,
                 device: str | torch.device = "cpu", precision: str = "fp32", compile: str = "none",
                 chunk_elements: int = 1 << 25, channels_last: bool = True, fold_batchnorm: bool = True) -> None:
        if mem_every < 1:
            raise ValueError(f"mem_every must be >= 1, got {mem_every}")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device=cuda requested but CUDA is not available; use device=cpu")
        if memory.device.type != self.device.type:
            raise ValueError(f"memory is on {memory.device} but the segmenter runs on {self.device}")
        precision = resolve_precision(self.device, precision)
        autocast_context(self.device, precision)  # validates the precision for this device
        warn_if_bf16_is_emulated(self.device, precision)
        self.net = inference_network(net, self.device, channels_last, fold_batchnorm, weight_dtype(precision))
        self.channels_last = channels_last
        self.memory = memory
        self.mem_every = int(mem_every)
        self.top_k = int(top_k)
        self.precision = precision
        self.core = compile_core(SegmentationCore(self.net, self.top_k, chunk_elements), compile)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the video: memory, objects, frame size and schedule."""
        self.memory.reset()
        self.object_ids: List[int] = []
        self.frame_size: Optional[tuple] = None
        self._padding: Padding = (0, 0, 0, 0)
        self.last_index: Optional[int] = None
        self.last_annotated: Optional[int] = None

    @property
    def started(self) -> bool:
        return self.last_index is not None

    @property
    def has_ring(self) -> bool:
        """The memory has a temporary ring (non-memory frames are kept there)."""
        return self.memory.temp_size > 0

    def state_dict(self) -> dict:
        """The video's state (memory, objects, schedule): a run can stop and continue from it."""
        return {"memory": self.memory.state_dict(), "object_ids": list(self.object_ids),
                "frame_size": self.frame_size, "padding": self._padding, "last_index": self.last_index,
                "last_annotated": self.last_annotated}

    def load_state_dict(self, state: dict) -> None:
        self.memory.load_state_dict(state["memory"])
        self.object_ids = list(state["object_ids"])
        self.frame_size = None if state["frame_size"] is None else tuple(state["frame_size"])
        self._padding = tuple(state["padding"])
        self.last_index, self.last_annotated = state["last_index"], state["last_annotated"]

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def start(self, frame: np.ndarray | Tensor, masks: np.ndarray | Tensor,
              object_ids: Optional[Sequence[int]] = None, frame_index: int = 0) -> Prediction:
        """Start a video at its annotated frame.

        Args:
            frame: ``H×W×3`` uint8 RGB (or a :class:`~stcnbuf.engine.preprocess.ResizedFrame`, which the segmenter
                resizes on its device).
            masks: a label map ``H×W`` or stacked binary masks ``K×H×W``.
            object_ids: ids to track (label map: default all present; stacked: one per mask).
            frame_index: the frame's index in the video (the memory schedule counts from it).
        """
        self.reset()
        frame = as_frame(frame)
        self.frame_size = frame_hw(frame)
        self._padding = padding_for(*self.frame_size)
        given, ids = masks_to_tensor(masks, object_ids, self.frame_size, "the initial mask")
        image = self._image(frame)
        with autocast_context(self.device, self.precision):
            key, f16 = self.core.encode_key(image)
            probs = aggregate(pad(given.to(self.device), self._padding), 0)
            self.object_ids = ids
            self.memory.add_objects(len(ids))
            self._store(image, f16, key, probs, frame_index, WriteMode.PERMANENT, annotated=True)
        self.last_annotated = frame_index
        self.last_index = frame_index
        return self._prediction(frame_index, probs)

    @torch.no_grad()
    def add_objects(self, frame: np.ndarray | Tensor, masks: np.ndarray | Tensor,
                    object_ids: Optional[Sequence[int]] = None, frame_index: Optional[int] = None) -> Prediction:
        """Process a frame that carries masks for new objects (or new masks for tracked ones).

        Tracked objects are first predicted on the frame; given masks then take their pixels. New objects
        read memory only from this frame on. The frame is stored as an annotated frame.
        """
        self._require_started()
        frame = self._checked(frame)
        index = self.last_index + 1 if frame_index is None else int(frame_index)
        given, ids = masks_to_tensor(masks, object_ids, self.frame_size, f"the masks of frame {index}")
        image = self._image(frame)
        given = pad(given.to(self.device), self._padding)
        with autocast_context(self.device, self.precision):
            if self.object_ids:
                probs, key, f16 = self.core(image, *self.memory.read_inputs())
                objects = probs[1:].clone()
            else:
                key, f16 = self.core.encode_key(image)
                objects = given.new_zeros(0, *given.shape[1:])
            objects[:, given.sum(0) > 0.5] = 0
            new = [(i, m) for i, m in zip(ids, given) if i not in self.object_ids]
            for i, m in zip(ids, given):
                if i in self.object_ids:
                    objects[self.object_ids.index(i)] = m
            if new:
                objects = torch.cat([objects, torch.stack([m for _, m in new])], 0)
                self.object_ids = self.object_ids + [i for i, _ in new]
                self.memory.add_objects(len(new))
            probs = aggregate(objects, 0)
            self._store(image, f16, key, probs, index, WriteMode.PERMANENT, annotated=True)
        self.last_annotated = index
        self.last_index = index
        return self._prediction(index, probs)

    def remove_objects(self, object_ids: Sequence[int]) -> None:
        """Stop tracking objects; their values leave memory."""
        unknown = [i for i in object_ids if i not in self.object_ids]
        if unknown:
            raise ValueError(f"object id(s) {unknown} are not tracked (tracked: {self.object_ids})")
        columns = [self.object_ids.index(i) for i in object_ids]
        self.memory.remove_objects(columns)
        self.object_ids = [i for i in self.object_ids if i not in set(object_ids)]

    def step(self, frame: np.ndarray | Tensor, frame_index: Optional[int] = None,
             update_memory: bool = True) -> Prediction:
        """Segment the next frame (or frame ``frame_index``) and update memory on the schedule."""
        self._require_started()
        index = self.last_index + 1 if frame_index is None else int(frame_index)
        return self.process(frame, index, self.write_mode(index) if update_memory else WriteMode.NONE)

    def write_mode(self, frame_index: int) -> WriteMode:
        """The schedule: permanent every ``mem_every`` frames from the latest annotation, else the ring."""
        return write_mode(frame_index, self.last_annotated, self.mem_every, self.has_ring)

    @torch.no_grad()
    def process(self, frame: np.ndarray | Tensor, frame_index: int, write: WriteMode,
                burn_in: bool = False) -> Prediction:
        """Segment one frame and write it to memory as ``write`` says (schedules use this directly);
        ``burn_in``: a burn-in visit (the memory's ``burn_in`` treatment applies to what it writes)."""
        self._require_started()
        if not self.object_ids:
            raise RuntimeError("no objects are tracked; add objects before segmenting frames")
        image = self._image(self._checked(frame))
        with autocast_context(self.device, self.precision):
            probs, key, f16 = self.core(image, *self.memory.read_inputs())
            self._store(image, f16, key, probs, frame_index, write, annotated=False, burn_in=burn_in)
        self.last_index = frame_index
        return self._prediction(frame_index, probs)

    # ------------------------------------------------------------------ internals
    def _store(self, image: Tensor, f16: Tensor, key: Tensor, probs: Tensor, frame_index: int,
               write: WriteMode, annotated: bool, burn_in: bool = False) -> None:
        if write is WriteMode.NONE:
            return
        values = self.core.encode_value(image, f16, probs[1:].to(image.dtype))
        confidence = None
        if burn_in and self.memory.burn_in.needs_confidence:
            confidence = key_confidence(probs, key.shape[1:])
        self.memory.add(key, values, frame_index, temporary=write is WriteMode.TEMPORARY, annotated=annotated,
                        burn_in=burn_in, confidence=confidence)

    def _require_started(self) -> None:
        if not self.started:
            raise RuntimeError("call start(frame, masks) with the annotated frame first")

    def _checked(self, frame: np.ndarray | Tensor) -> Tensor:
        frame = as_frame(frame)
        height, width = frame_hw(frame)
        if (height, width) != self.frame_size:
            raise ValueError(f"frame is {width}×{height} but the video started at "
                             f"{self.frame_size[1]}×{self.frame_size[0]} (width×height)")
        return frame

    def _image(self, frame: Tensor) -> Tensor:
        image = pad(normalize_frame(frame, self.device), self._padding)
        return image.contiguous(memory_format=torch.channels_last) if self.channels_last else image

    def _prediction(self, frame_index: int, probs: Tensor) -> Prediction:
        return Prediction.from_probs(frame_index, self.object_ids, unpad(probs, self._padding))
