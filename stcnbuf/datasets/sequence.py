"""A video sequence on disk: frame files, annotation files, which frames need outputs, checked reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from stcnbuf.datasets.frames import frame_bytes, resize_frame, resize_labels, working_size
from stcnbuf.engine.frame_source import FrameSource
from stcnbuf.engine.labels import Annotation, object_ids_in, void_hint
from stcnbuf.io.masks import read_image, read_label_png

#: How annotation files beyond the first are used.
#: ``first``: only the first annotated frame is input (later masks are ground truth for scoring);
#: ``new_objects``: a later mask introduces the ids not seen before (YouTube-VOS);
#: ``all``: every mask is input (new objects and corrections of tracked ones).
ANNOTATION_USES = ("first", "new_objects", "all")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class ObjectRange:
    """Where an object is annotated, in frame numbers (the integer file stems), as LVOS's meta files give it:
    from ``start`` (its first mask, the input) to ``end`` (its last), ``frame_nums`` annotated frames."""

    start: int
    end: int
    frame_nums: int


@dataclass
class VideoSequence:
    """One video: frames in order and the annotation files of some of them.

    Attributes:
        name: sequence name (output folder name).
        frame_paths: every frame to propagate through, in temporal order.
        mask_paths: frame position -> label PNG (annotations; for DAVIS, ground truth of every frame).
        output_frames: positions whose predictions are written (``None``: every frame).
        annotation_use: see :data:`ANNOTATION_USES`.
        binary_masks: masks are binary (DAVIS 2016: any nonzero pixel is object 1).
        resize_masks: a mask whose size differs from its frame is resized (nearest) instead of refused.
        object_ranges: object id -> its annotated range, where the dataset names them (LVOS).
    """

    name: str
    frame_paths: List[Path]
    mask_paths: Dict[int, Path]
    output_frames: Optional[List[int]] = None
    annotation_use: str = "first"
    binary_masks: bool = False
    resize_masks: bool = False
    object_ranges: Optional[Dict[int, ObjectRange]] = None
    _sizes: Dict[int, Tuple[int, int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.annotation_use not in ANNOTATION_USES:
            raise ValueError(f"annotation_use must be one of {ANNOTATION_USES}, got {self.annotation_use!r}")
        if not self.frame_paths:
            raise ValueError(f"sequence {self.name} has no frames")
        if not self.mask_paths:
            raise ValueError(f"sequence {self.name} has no annotation: the first frame's mask is needed")

    def __len__(self) -> int:
        return len(self.frame_paths)

    def frame_name(self, index: int) -> str:
        """File stem of frame ``index`` (outputs are written as ``<stem>.png``)."""
        return self.frame_paths[index].stem

    @property
    def outputs(self) -> List[int]:
        return list(range(len(self))) if self.output_frames is None else list(self.output_frames)

    @property
    def fully_annotated(self) -> bool:
        """Every frame has a mask (scorable with the DAVIS protocol)."""
        return len(self.mask_paths) == len(self) and all(i in self.mask_paths for i in range(len(self)))

    @property
    def input_mask_paths(self) -> List[Path]:
        """The annotation files read as input (the others are only ground truth) under :attr:`annotation_use`."""
        paths = [self.mask_paths[i] for i in sorted(self.mask_paths)]
        return paths[:1] if self.annotation_use == "first" else paths

    def frame_size(self, index: int) -> Tuple[int, int]:
        """``(H, W)`` of a frame, read from the file header."""
        if index not in self._sizes:
            path = self.frame_paths[index]
            try:
                with Image.open(path) as image:
                    self._sizes[index] = (image.height, image.width)
            except FileNotFoundError as error:
                raise FileNotFoundError(f"frame not found: {path}") from error
            except OSError as error:
                raise ValueError(f"cannot read image {path}: {error}") from error
        return self._sizes[index]

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``H×W×3`` uint8 RGB."""
        return read_image(self.frame_paths[index])

    @property
    def size(self) -> Tuple[int, int]:
        """``(H, W)`` of the sequence: that of its first frame (every frame must have it)."""
        return self.frame_size(0)

    def frame_source(self, shorter_side: Optional[int] = None, budget_mb: float = 0.0,
                     resize: str = "stcn") -> FrameSource:
        """The frames at the working size (shorter side ``shorter_side``, reached by ``resize``, see
        :data:`~stcnbuf.datasets.frames.RESIZE_METHODS`) as a :class:`~stcnbuf.engine.frame_source.FrameSource` keeping up to
        ``budget_mb`` of them."""
        size = working_size(self.size, shorter_side)

        def decode(indices: Sequence[int]) -> Iterator[np.ndarray]:
            for index in indices:
                frame = self.read_frame(index)
                if frame.shape[:2] != self.size:
                    raise ValueError(f"{self.frame_paths[index]} is {frame.shape[1]}×{frame.shape[0]} but "
                                     f"{self.frame_paths[0].name} is {self.size[1]}×{self.size[0]}: every frame "
                                     f"of {self.name} needs one size")
                yield resize_frame(frame, size, resize)

        return FrameSource(len(self), size, decode, budget_mb, frame_bytes(self.size, size, resize))

    def read_mask(self, index: int) -> np.ndarray:
        """The label map of frame ``index`` (255 = void), checked against the frame size."""
        path = self.mask_paths[index]
        labels = read_label_png(path)
        if self.binary_masks:
            labels = (labels > 0).astype(np.uint8)
        size = self.frame_size(index)
        if labels.shape != size:
            if not self.resize_masks:
                raise ValueError(
                    f"mask {path} is {labels.shape[1]}×{labels.shape[0]} but its frame {self.frame_paths[index]} is "
                    f"{size[1]}×{size[0]} (width×height); fix the file or set data.resize_masks=true to resize "
                    "masks to their frames (nearest neighbour)")
            labels = resize_labels(labels, size)
        return labels

    def annotations(self) -> List[Annotation]:
        """The masks used as input, in frame order, under :attr:`annotation_use`.

        The first annotated frame must contain at least one object; later frames contribute only when they
        bring something (new ids, or any ids under ``all``).
        """
        result: List[Annotation] = []
        seen: set = set()
        for index in sorted(self.mask_paths):
            labels = self.read_mask(index)
            present = object_ids_in(labels)
            if not result:
                if not present:
                    raise ValueError(f"the first mask of {self.name} ({self.mask_paths[index]}) is empty: it must "
                                     f"contain at least one object{void_hint(labels)}")
                ids = present
            elif self.annotation_use == "first":
                break
            elif self.annotation_use == "new_objects":
                ids = [i for i in present if i not in seen]
            else:
                ids = present
            if ids:
                result.append(Annotation(index, labels, ids))
                seen.update(ids)
        return result


def list_images(folder: Path) -> List[Path]:
    """Image files of a folder, sorted by name; a clear error when the folder is missing or empty."""
    if not folder.is_dir():
        raise FileNotFoundError(f"frame folder not found: {folder}")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return images


def masks_by_frame(frames: List[Path], mask_folder: Path, required_first: bool = True) -> Dict[int, Path]:
    """Map frame positions to the PNG masks in ``mask_folder`` that share their file stem.

    A mask without a frame is an error (it usually means misnamed files); so is a missing first mask when
    ``required_first``.
    """
    if not mask_folder.is_dir():
        raise FileNotFoundError(f"annotation folder not found: {mask_folder}")
    position = {p.stem: i for i, p in enumerate(frames)}
    masks: Dict[int, Path] = {}
    for path in sorted(mask_folder.glob("*.png")):
        if path.name.startswith("."):
            continue
        if path.stem not in position:
            raise ValueError(f"mask {path} has no frame {path.stem}.* in {frames[0].parent}")
        masks[position[path.stem]] = path
    if not masks:
        raise FileNotFoundError(f"no PNG masks in {mask_folder}")
    if required_first and 0 not in masks:
        raise FileNotFoundError(f"the first frame {frames[0].name} has no mask {mask_folder / (frames[0].stem + '.png')}")
    return masks
