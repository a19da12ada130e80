"""Initial masks from a COCO Mask R-CNN (torchvision ``maskrcnn_resnet50_fpn``), loaded from a local file.

Nothing is downloaded: the network is built with ``weights=None, weights_backbone=None`` and the COCO
weights are read from a file with :func:`stcnbuf.engine.checkpoint.read_weights_file` (``weights_only=True``)::

    model = load_maskrcnn("weights/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth")
    proposals = filter_proposals(propose(model, frame), classes=["person"], score_threshold=0.7)
    labels, ids = proposals_to_label_map(proposals)       # uint8 label map, ids 1..K in score order
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor

from stcnbuf.engine.checkpoint import CheckpointError, extract_state_dict, read_weights_file, state_differences

#: The torchvision COCO weights file (``MaskRCNN_ResNet50_FPN_Weights.COCO_V1``) and where to get it.
WEIGHTS_FILENAME = "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
WEIGHTS_URL = f"https://download.pytorch.org/models/{WEIGHTS_FILENAME}"
#: Where the file is looked for by default, relative to the repository root (``paths.weights_dir``).
DEFAULT_WEIGHTS = Path("weights") / WEIGHTS_FILENAME


def _coco_categories() -> List[str]:
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    return list(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


#: COCO category names indexed by label id ("__background__" at 0, "person" at 1, "N/A" for unused ids).
COCO_CATEGORIES: List[str] = _coco_categories()
_NOT_CLASSES = {"__background__", "N/A"}
#: The names :func:`filter_proposals` accepts.
VALID_CLASSES: List[str] = [name for name in COCO_CATEGORIES if name not in _NOT_CLASSES]


@dataclass
class Proposals:
    """Detections on one frame: soft masks at the image size, scores and COCO label ids (same order)."""

    masks: np.ndarray   # [N, H, W] float32 in [0, 1]
    scores: np.ndarray  # [N]
    labels: np.ndarray  # [N] COCO label ids

    def __post_init__(self) -> None:
        self.masks = np.asarray(self.masks, dtype=np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if self.masks.ndim != 3:
            raise ValueError(f"Proposals.masks must be [N, H, W], got shape {self.masks.shape}")
        if not len(self.masks) == len(self.scores) == len(self.labels):
            raise ValueError(f"Proposals: {len(self.masks)} masks, {len(self.scores)} scores and "
                             f"{len(self.labels)} labels differ in number")

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def image_size(self) -> Tuple[int, int]:
        """``(H, W)`` of the masks."""
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    def category_names(self) -> List[str]:
        """The COCO name of each proposal's label."""
        return [COCO_CATEGORIES[i] if 0 <= i < len(COCO_CATEGORIES) else f"class {i}" for i in self.labels]

    def subset(self, indices: Iterable[int]) -> "Proposals":
        """The proposals at ``indices``, in that order (e.g. a click selection)."""
        index = np.asarray(list(indices), dtype=np.int64)
        return Proposals(self.masks[index], self.scores[index], self.labels[index])


# ----------------------------------------------------------------------------------------------------------
# Model


def _freeze_batchnorm(module: torch.nn.Module, eps: float) -> None:
    """Replace every ``BatchNorm2d`` by a ``FrozenBatchNorm2d`` (the layout of torchvision's COCO model)."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, torch.nn.BatchNorm2d):
            setattr(module, name, FrozenBatchNorm2d(child.num_features, eps=eps))
        else:
            _freeze_batchnorm(child, eps)


def build_maskrcnn() -> torch.nn.Module:
    """The random-weight ``maskrcnn_resnet50_fpn`` (91 COCO classes) in the layout of the COCO file.

    ``maskrcnn_resnet50_fpn(weights=None)`` uses trainable ``BatchNorm2d``; the pretrained model torchvision
    builds uses ``FrozenBatchNorm2d`` with ``eps=0`` (what the COCO file was trained and saved with), so the
    backbone's normalisation layers are swapped for those: the computation then matches torchvision's
    pretrained model exactly and files of either layout load strictly.
    """
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=len(COCO_CATEGORIES))
    _freeze_batchnorm(model, eps=0.0)
    return model


def _missing_weights_message(path: Path) -> str:
    return (f"Mask R-CNN weights not found: {path}. Download the torchvision COCO file {WEIGHTS_FILENAME} "
            f"({WEIGHTS_URL}) on a machine with internet access, then pass it as init.weights=FILE or place "
            f"it at {DEFAULT_WEIGHTS.as_posix()} (nothing is downloaded automatically)")


def _read_maskrcnn_state(path: Path) -> Dict[str, Tensor]:
    obj = read_weights_file(path, "Mask R-CNN weights")
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):  # torchvision reference training
        obj = obj["model"]
    state = extract_state_dict(obj, path)
    # BatchNorm2d files carry counters that FrozenBatchNorm2d neither has nor needs.
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


def _check_fits(model: torch.nn.Module, state: Mapping[str, Tensor], path: Path) -> None:
    differences = state_differences(model.state_dict(), state, shown=5)
    if not differences:
        return
    lines = [f"{path} does not hold maskrcnn_resnet50_fpn COCO weights (91 classes):", *differences]
    if "fc.weight" in state and "conv1.weight" in state:
        lines.append("  (it looks like an ImageNet classification network, not a Mask R-CNN detector)")
    lines.append(f"  expected torchvision's {WEIGHTS_FILENAME} ({WEIGHTS_URL}), given as init.weights=FILE")
    raise CheckpointError("\n".join(lines))


def load_maskrcnn(weights: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The COCO Mask R-CNN with the weights of a local file (strict), in eval mode on ``device``.

    Raises :class:`CheckpointError` when the file is missing (saying where to get and put it), unreadable,
    or holds other weights (listing a few wrong keys / shapes).
    """
    path = Path(weights)
    if not path.is_file():
        raise CheckpointError(_missing_weights_message(path))
    state = _read_maskrcnn_state(path)
    model = build_maskrcnn()
    _check_fits(model, state, path)
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


def propose(model: torch.nn.Module, frame: np.ndarray, device: str | torch.device = "cpu") -> Proposals:
    """Run the detector on one ``H×W×3`` uint8 RGB frame: every detection, soft masks at the frame size.

    The detector keeps its own limits (score ≥ 0.05, at most 100 detections); use :func:`filter_proposals`
    to choose among them.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"propose: expected an H×W×3 RGB frame, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"propose: expected a uint8 frame, got {frame.dtype}")
    height, width = frame.shape[:2]
    image = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).to(device=device, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        out = model([image / 255.0])[0]
    masks = out["masks"][:, 0].float().clamp_(0, 1).cpu().numpy()  # [N, 1, H, W] -> [N, H, W] at the frame size
    return Proposals(masks=masks, scores=out["scores"].float().cpu().numpy(),
                     labels=out["labels"].cpu().numpy())


# ----------------------------------------------------------------------------------------------------------
# Choosing proposals and turning them into a label map


def class_ids(classes: Sequence[str] | str) -> List[int]:
    """COCO label ids of class names; unknown names raise ``ValueError`` listing the valid ones."""
    if isinstance(classes, str):
        classes = [classes]
    unknown = [name for name in classes if name not in VALID_CLASSES]
    if unknown:
        raise ValueError(f"unknown COCO class name(s) {unknown}; valid names: {', '.join(VALID_CLASSES)}")
    return [COCO_CATEGORIES.index(name) for name in classes]


def filter_proposals(p: Proposals, classes: Optional[Sequence[str] | str] = ("person",),
                     score_threshold: float = 0.7, max_objects: Optional[int] = None) -> Proposals:
    """The proposals of the given classes (``None``: all) with score ≥ ``score_threshold``, best first,
    at most ``max_objects`` of them."""
    keep = p.scores >= score_threshold
    if classes is not None:
        keep &= np.isin(p.labels, class_ids(classes))
    index = np.flatnonzero(keep)
    index = index[np.argsort(-p.scores[index], kind="stable")]
    if max_objects is not None:
        if max_objects < 0:
            raise ValueError(f"max_objects must be >= 0 or None, got {max_objects}")
        index = index[:max_objects]
    return p.subset(index)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    count, components, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return components == largest


def _holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Pixels of the enclosed background regions of ``mask`` (not touching the border) of area ≤ max_area."""
    count, components, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    height, width = mask.shape
    small = np.zeros(count, bool)
    for k in range(1, count):
        x, y, w, h, area = stats[k]
        enclosed = x > 0 and y > 0 and x + w < width and y + h < height
        small[k] = enclosed and area <= max_area
    return small[components]


def proposals_to_label_map(p: Proposals, mask_threshold: float = 0.5, cleanup: bool = True, min_area: int = 0,
                           max_hole_fraction: float = 0.1,
                           sort_by_score: bool = True) -> Tuple[np.ndarray, List[int]]:
    """One ``H×W`` uint8 label map from (possibly overlapping) proposals, and its object ids ``[1..K]``.

    A pixel goes to the proposal with the highest soft-mask value among those above ``mask_threshold``
    (ties: the higher score). With ``cleanup`` each object keeps its largest connected component and its
    enclosed holes smaller than ``max_hole_fraction`` of its area are filled (where no other object is).
    Objects with fewer than ``max(min_area, 1)`` pixels are dropped; the others get ids 1..K in score order
    (``sort_by_score=False``: in the given order, e.g. the click order).
    """
    height, width = p.image_size
    order = np.argsort(-p.scores, kind="stable") if sort_by_score else np.arange(len(p))
    masks = p.masks[order]
    labels = np.zeros((height, width), np.uint8)
    if len(order) == 0:
        return labels, []
    above = masks > mask_threshold
    # Proposals are in score order, so argmax's first-maximum rule breaks ties by the higher score.
    winner = np.argmax(np.where(above, masks, -np.inf), axis=0)
    claimed = above.any(axis=0)
    regions = [claimed & (winner == k) for k in range(len(order))]
    if cleanup:
        regions = [_largest_component(region) if region.any() else region for region in regions]
        taken = np.any(regions, axis=0)
        filled = []
        for region in regions:
            area = int(region.sum())
            if area:
                region = region | (_holes(region, max_hole_fraction * area) & ~taken)
            filled.append(region)
        regions = filled
    smallest = max(int(min_area), 1)
    kept = [region for region in regions if region.sum() >= smallest]
    if len(kept) > 254:
        raise ValueError(f"{len(kept)} objects do not fit a uint8 label map (at most 254); "
                         "lower max_objects or raise the score threshold")
    for object_id, region in enumerate(kept, start=1):
        labels[region & (labels == 0)] = object_id
    return labels, list(range(1, len(kept) + 1))
