"""Initial masks of a video at the working size: from files, from Mask R-CNN proposals, or from clicks."""

from __future__ import annotations

import logging
from typing import Dict, List, Sequence, Tuple

import numpy as np
from omegaconf import DictConfig

from stcnbuf.datasets.frames import resize_labels
from stcnbuf.datasets.video import VideoSource
from stcnbuf.engine.labels import VOID_LABEL, Annotation, object_ids_in
from stcnbuf.io.masks import image_size, read_label_png, require_size
from stcnbuf.io.rle import is_rle_file, read_mask_json

log = logging.getLogger(__name__)

#: frame index -> its masks at the working size
Annotations = Dict[int, Annotation]


def initial_frames(init: DictConfig, num_frames: int) -> List[int]:
    """``init.frame`` as a list of frame indices in the order given (default: the middle frame)."""
    frames = init.frame
    frames = [num_frames // 2] if frames is None else ([frames] if isinstance(frames, int) else list(frames))
    for frame in frames:
        if not 0 <= int(frame) < num_frames:
            raise ValueError(f"init.frame={frame} is outside the video (0..{num_frames - 1})")
    if len(set(frames)) != len(frames):
        raise ValueError(f"init.frame={list(frames)} names a frame twice")
    return [int(f) for f in frames]


def initial_mask_files(init: DictConfig) -> List[str]:
    """The mask files ``init.mask`` names (none for the other methods)."""
    if init.method != "mask":
        return []
    return [str(init.mask)] if isinstance(init.mask, str) else [str(m) for m in init.mask]


def read_mask_file(path: str, frame: int | None = None, allowed_sizes: Sequence[Tuple[int, int]] = ()) -> np.ndarray:
    """A label map from a PNG (palette: ids; binary 0/255 or 0/1: object 1) or an RLE JSON file (``frame``:
    which frame of a multi-frame RLE file such as a ``masks.rle.jsonl``; a single-mask JSON has one). A mask of
    none of ``allowed_sizes`` (``H, W``; none given: any) is refused before it is decoded."""
    if is_rle_mask(path):
        return read_mask_json(path, frame if is_rle_file(path) else None, allowed_sizes)
    require_size(path, image_size(path), allowed_sizes)
    labels = read_label_png(path)
    if set(np.unique(labels).tolist()) <= {0, 255}:  # a binary mask saved as 0/255
        labels = (labels > 0).astype(np.uint8)
    return labels


def is_rle_mask(path: str) -> bool:
    """Whether a mask file is RLE JSON (``.json``, ``.jsonl``), where every id is an object (255 too: void is
    the PNG convention)."""
    return str(path).lower().endswith((".json", ".jsonl"))


def _from_files(init: DictConfig, frames: Sequence[int], source: VideoSource) -> Annotations:
    masks = initial_mask_files(init)
    if len(masks) != len(frames):
        raise ValueError(f"init.mask gives {len(masks)} mask(s) for {len(frames)} initial frame(s) {list(frames)}")
    annotations: Annotations = {}
    for frame, path in sorted(zip(frames, masks)):
        sizes = (tuple(source.original_size), tuple(source.working_size))
        labels = resize_labels(read_mask_file(path, frame, sizes), source.working_size)
        ids = object_ids_in(labels, None if is_rle_mask(path) else VOID_LABEL)
        if not ids:
            raise ValueError(f"the initial mask {path} is empty")
        annotations[frame] = Annotation(frame, labels, ids)
    return annotations


def _from_proposals(init: DictConfig, frame_index: int, source: VideoSource, device: str) -> Annotations:
    from stcnbuf.apps.segment.proposals.maskrcnn import filter_proposals, load_maskrcnn, propose, proposals_to_label_map

    frame = next(iter(source.iterate([frame_index])))
    proposals = propose(load_maskrcnn(init.weights, device), frame, device)
    classes = list(init.classes) if init.classes else None
    proposals = filter_proposals(proposals, classes, init.score_threshold, init.max_objects)
    passed = f"{len(proposals)} proposal(s) passed init.classes={classes} and init.score_threshold={init.score_threshold}"
    if init.method == "click":
        from stcnbuf.apps.segment.proposals.selection import selection_from_clicks

        if init.clicks:
            chosen = selection_from_clicks(proposals, [tuple(c) for c in init.clicks], init.mask_threshold)
            if len(proposals) and not chosen:
                raise ValueError(f"no object to track on frame {frame_index}: {passed}, but the clicks "
                                 f"init.clicks={[list(c) for c in init.clicks]} select none of them (a click on a "
                                 "selected object unselects it; clicks are (x, y) pixels of the frame at the working "
                                 f"size {source.working_size[1]}×{source.working_size[0]})")
        else:
            from stcnbuf.apps.segment.proposals.click import select_by_clicking

            chosen = select_by_clicking(frame, proposals)
        proposals = proposals.subset(chosen)
    labels, ids = proposals_to_label_map(proposals, init.mask_threshold, init.cleanup, init.min_area,
                                         sort_by_score=init.method != "click")
    if not ids:
        raise ValueError(f"no object to track on frame {frame_index}: {passed}")
    log.info("frame %d: %d object(s) from %s", frame_index, len(ids), init.method)
    return {frame_index: Annotation(frame_index, labels, ids)}


def given_masks_at_original_size(init: DictConfig, annotations: Annotations, source: VideoSource) -> Annotations:
    """The initial masks at the video's original size, to be written as given on their frames: mask files
    given at that size are used as they are; others are resized (nearest)."""
    size = tuple(source.original_size)
    paths = dict(zip(initial_frames(init, len(source)), initial_mask_files(init)))
    given: Annotations = {}
    for frame, annotation in sorted(annotations.items()):
        labels = read_mask_file(paths[frame], frame) if paths else annotation.labels  # sizes checked on reading
        if labels.shape[:2] != size:
            labels = resize_labels(annotation.labels, size)
        given[frame] = Annotation(frame, labels, annotation.object_ids)
    return given


def object_ids(annotations: Annotations) -> List[int]:
    """Every object id of the initial masks, in order of appearance."""
    ids: List[int] = []
    for frame in sorted(annotations):
        ids.extend(i for i in annotations[frame].object_ids if i not in ids)
    return ids


def initial_annotations(init: DictConfig, source: VideoSource, device: str = "cpu") -> Annotations:
    """The initial masks ``{frame: (labels, ids)}`` described by ``init`` (``configs/init``)."""
    frames = initial_frames(init, len(source))
    if init.method == "mask":
        return _from_files(init, frames, source)
    if init.method in ("maskrcnn", "click"):
        if len(frames) != 1:
            raise ValueError(f"init={init.method} takes one initial frame; for several, give a mask per frame "
                             "with init=mask")
        return _from_proposals(init, frames[0], source, device)
    raise ValueError(f"unknown init.method {init.method!r}: mask, maskrcnn or click")
