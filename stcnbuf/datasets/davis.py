"""DAVIS 2016 and 2017 (``JPEGImages/480p/<seq>``, ``Annotations/480p/<seq>``, ``ImageSets``)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.datasets.sequence import VideoSequence, list_images, masks_by_frame

#: DAVIS 2017 splits without public ground truth, scored by the challenge server (their ImageSets file names)
SERVER_SPLITS = ("test-dev", "test-challenge")


def read_split_file(path: Path) -> List[str]:
    """Sequence names of an ImageSets file: one name per line (2017) or frame/mask path pairs (2016)."""
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    names: List[str] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        name = line.split()[0].strip("/").split("/")[2] if line.startswith("/") else line
        if name not in names:
            names.append(name)
    return names


class DavisDataset(VOSDataset):
    """DAVIS semi-supervised sets.

    Args:
        root: the folder holding ``JPEGImages``, ``Annotations`` and ``ImageSets``.
        year: 2017 (palette masks, 255 = void, several objects) or 2016 (grayscale 0/255, one object).
        split: ``train``, ``val``, ``test-dev``, ``test-challenge`` (2017) or ``train``, ``val``, ``trainval``
            (2016); for other DAVIS-layout sets any file name in ``ImageSets/<year>``. The
            :data:`SERVER_SPLITS` are scored by the server, which takes 480p predictions: at ``480p`` their
            archive is written (layout ``sequences``).
        resolution: ``480p`` or ``Full-Resolution``.
        sequences: a subset of the split (default: all).
        allow_missing: evaluate the sequences present when the split lists absent ones.
        resize_masks: resize masks whose size differs from their frame instead of refusing them.
        shorter_side: working resolution (``None``: native); resize: how frames are scaled to it.
    """

    def __init__(self, root: str | Path, year: int = 2017, split: str = "val", resolution: str = "480p",
                 sequences: Optional[Sequence[str]] = None, allow_missing: bool = False,
                 resize_masks: bool = False, shorter_side: Optional[int] = None, resize: str = "stcn") -> None:
        if int(year) not in (2016, 2017):
            raise ValueError(f"DAVIS year must be 2016 or 2017, got {year}")
        self.name = f"davis{year}"
        super().__init__(root, shorter_side, resize)
        self.year, self.split, self.resolution = int(year), split, resolution
        self.resize_masks = resize_masks
        self.gt_binary = self.year == 2016
        self.scorable = split not in SERVER_SPLITS
        self.submission = "sequences" if not self.scorable and resolution == "480p" else None
        image_sets = self.root / "ImageSets" / (resolution if self.year == 2016 else "2017")
        split_file = image_sets / f"{split}.txt"
        if not split_file.is_file():
            available = sorted(p.stem for p in image_sets.glob("*.txt")) if image_sets.is_dir() else []
            raise FileNotFoundError(f"{self.name}: split file {split_file} not found"
                                    + (f" (splits here: {', '.join(available)})" if available else ""))
        self.names = self.select(sequences, read_split_file(split_file), allow_missing, str(split_file))

    def has_sequence(self, name: str) -> bool:
        return (self.root / "JPEGImages" / self.resolution / name).is_dir()

    def sequence(self, name: str) -> VideoSequence:
        frames = list_images(self.root / "JPEGImages" / self.resolution / name)
        masks = masks_by_frame(frames, self.root / "Annotations" / self.resolution / name)
        return VideoSequence(name, frames, masks, annotation_use="first", binary_masks=self.gt_binary,
                             resize_masks=self.resize_masks)
