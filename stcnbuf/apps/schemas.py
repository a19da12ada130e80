"""Typed schemas of the configs the apps compose, registered with Hydra's ConfigStore: the presets of
``configs/memory``, ``configs/inference`` and ``configs/init`` and the ``reader`` and ``outputs`` of the segment
app extend them, so a misspelt key or a value of the wrong type fails at composition, naming the key, and every
default lives here or in :mod:`stcnbuf.engine.settings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from stcnbuf.engine.settings import MemorySettings, OfflineInference, OnlineInference
from stcnbuf.runs.hydra_files import register_resolvers


@dataclass
class ReaderSettings:
    """How the segment app reads a video."""

    shorter_side: Optional[int] = 480   # working resolution (null: native); outputs are at the original size
    resize: str = "stcn"                # stcn (as eval.py: normalised, then bicubic on the device) | area (cheaper
                                        # on large videos)
    constant_fps: Optional[float] = None  # resample to a constant frame rate (e.g. 25); null keeps the timestamps
    start: int = 0                      # process frames [start:stop:step]
    stop: Optional[int] = None
    step: int = 1
    # live sources (video=- | camera N | /dev/videoN | rtsp://, http(s)://, ...): docs/segmenting-videos.md
    size: Optional[str] = None          # WxH of raw rgb24 frames on standard input (video=-)
    max_frames: Optional[int] = None    # stop after this many frames (null: when the stream ends)
    max_seconds: Optional[float] = None  # stop after this many seconds
    drop_late: bool = False             # drop the frames the segmenter has no time for (counted), else queue them
    queue_frames: int = 32              # frames waiting for the segmenter at most (then the reader waits)


@dataclass
class OutputSettings:
    """What the segment app writes besides ``masks.rle.jsonl``."""

    png: bool = False       # masks/<frame>.png palette label maps
    overlay: bool = True    # overlay.mp4: coloured masks and outlines over the video
    review: bool = False    # review.json, review.png: the stretches of frames to check; the overlay marks them
    review_below: float = 0.5   # a frame is to check where an object's confidence is under this (or it is lost)
    review_merge_gap: int = 2   # frames to check at most this many frames apart make one stretch


@dataclass
class MaskInit:
    """Initial masks from files: one per initial frame (a palette or binary PNG, or an RLE JSON)."""

    method: str = "mask"
    frame: Any = None       # the initial frame (null: the middle frame); a list of frames with a list of masks
    mask: Any = MISSING     # a file, or a list of files (one per frame of init.frame)


@dataclass
class MaskRCNNInit:
    """Initial masks from torchvision's Mask R-CNN (ResNet-50 FPN, COCO) on the initial frame."""

    method: str = "maskrcnn"
    frame: Optional[int] = None          # the initial frame (null: the middle frame)
    weights: str = "${paths.weights_dir}/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    classes: Optional[List[str]] = field(default_factory=lambda: ["person"])  # COCO class names; null: any
    score_threshold: float = 0.7
    max_objects: Optional[int] = 10
    mask_threshold: float = 0.5
    cleanup: bool = True                 # keep each object's largest component and fill its small holes
    min_area: int = 64                   # drop objects smaller than this (pixels, working size)


@dataclass
class ClickInit(MaskRCNNInit):
    """Objects chosen by clicking Mask R-CNN proposals in a window, or by the clicks given."""

    method: str = "click"
    classes: Optional[List[str]] = None
    score_threshold: float = 0.5
    max_objects: Optional[int] = None
    clicks: Optional[List[List[int]]] = None  # [[x, y], ...]: pixels of the initial frame at the working size


#: (group, name) -> schema; presets name theirs first in their defaults list
SCHEMAS = {("memory", "schema"): MemorySettings, ("inference", "online_schema"): OnlineInference,
           ("inference", "offline_schema"): OfflineInference, ("init", "mask_schema"): MaskInit,
           ("init", "maskrcnn_schema"): MaskRCNNInit, ("init", "click_schema"): ClickInit,
           ("schema", "reader"): ReaderSettings, ("schema", "outputs"): OutputSettings}


def register_configs() -> None:
    """Register the schemas and the ``${run_folder:...}`` resolver (the entry points call this before Hydra
    composes a config)."""
    store = ConfigStore.instance()
    for (group, name), schema in SCHEMAS.items():
        store.store(group=group, name=name, node=schema)
    register_resolvers()
