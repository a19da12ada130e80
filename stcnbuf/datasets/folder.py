"""Any folder of frames and masks: ``JPEGImages/<seq>/`` + ``Annotations/<seq>/`` (or one sequence directly
in ``JPEGImages/`` + ``Annotations/``), masks on whichever frames, matched to frames by file stem."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.datasets.sequence import IMAGE_SUFFIXES, VideoSequence, list_images, masks_by_frame

#: the protocols a plain folder can be scored with (it names no object ranges)
FOLDER_PROTOCOLS = ("present", "davis")


class FolderDataset(VOSDataset):
    """Own videos in a DAVIS-like layout (PUMaVOS names such as ``frame_000000.jpg`` included).

    Args:
        root: folder with ``JPEGImages`` and ``Annotations``.
        sequences: a subset (default: every sequence folder).
        annotation_use: ``new_objects`` (default: each later mask introduces the ids not seen before),
            ``first`` (later masks are ground truth only) or ``all`` (later masks also correct tracked objects).
        resize_masks: resize masks whose size differs from their frame instead of refusing them.
        shorter_side: working resolution (``None``: native); resize: how frames are scaled to it.
        protocol: ``present`` (default: each object scored on the annotated frames after its first appearance,
            ground truth on every frame or some) or ``davis`` (the official DAVIS kit's; every frame annotated).
    """

    name = "folder"

    def __init__(self, root: str | Path, sequences: Optional[Sequence[str]] = None,
                 annotation_use: str = "new_objects", resize_masks: bool = False,
                 shorter_side: Optional[int] = None, protocol: str = "present", resize: str = "stcn") -> None:
        super().__init__(root, shorter_side, resize)
        if protocol not in FOLDER_PROTOCOLS:
            raise ValueError(f"folder dataset: unknown protocol {protocol!r}; choose one of "
                             f"{', '.join(FOLDER_PROTOCOLS)} (LVOS folders: data=lvos)")
        self.protocol = protocol
        self.annotation_use, self.resize_masks = annotation_use, resize_masks
        images = self.root / "JPEGImages"
        if not images.is_dir():
            raise FileNotFoundError(f"folder dataset: {images} not found (expected JPEGImages/ and Annotations/)")
        self.single = any(p.suffix.lower() in IMAGE_SUFFIXES for p in images.iterdir())
        available = [self.root.name] if self.single else sorted(p.name for p in images.iterdir() if p.is_dir())
        self.names = self.select(sequences, available, False, str(images))
        # scored when any sequence can be (the others are then named as not scored)
        self.scorable = any(self.sequence(n).fully_annotated if protocol == "davis"
                            else len(self.sequence(n).mask_paths) > 1 for n in self.names)

    def _folder(self, kind: str, name: str) -> Path:
        return self.root / kind if self.single else self.root / kind / name

    def has_sequence(self, name: str) -> bool:
        return self._folder("JPEGImages", name).is_dir()

    def sequence(self, name: str) -> VideoSequence:
        frames = list_images(self._folder("JPEGImages", name))
        masks = masks_by_frame(frames, self._folder("Annotations", name), required_first=False)
        return VideoSequence(name, frames, masks, annotation_use=self.annotation_use,
                             resize_masks=self.resize_masks)
