"""YouTube-VOS 2018 / 2019 and MOSE: sparse first-appearance masks, outputs on the frames of
``<split>/JPEGImages``, an archive for the server.

Layout::

    ROOT/<split>/JPEGImages/<vid>/<frame>.jpg     frames that need outputs (YouTube-VOS: every 5th; MOSE: all)
    ROOT/<split>/Annotations/<vid>/<frame>.png    the first mask of each object
    ROOT/<split>/meta.json                        {"videos": {vid: {"objects": {id: {"frames": [...]}}}}}
    ROOT/all_frames/<split>_all_frames/JPEGImages/<vid>/   (optional) every frame, used for propagation
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.datasets.sequence import VideoSequence, list_images, masks_by_frame
from stcnbuf.datasets.submission import check_layout


class YouTubeVOSDataset(VOSDataset):
    """YouTube-VOS validation/test sets (scored on the challenge server: their archive is written in the layout
    ``submission``), or a split with ground truth on its frames (``dense``: train, or an own set in this layout),
    scored locally with the ``present`` protocol (each object from its first mask on).

    Args:
        root: folder holding ``<split>/`` (and ``all_frames/`` when ``all_frames``).
        year: 2018 or 2019 (same layout).
        split: ``valid`` or ``test``.
        all_frames: propagate through every frame of ``all_frames/<split>_all_frames`` (outputs are still
            written for the ``<split>/JPEGImages`` frames only).
        sequences: a subset of videos.
        resize_masks: resize masks whose size differs from their frame instead of refusing them.
        shorter_side: working resolution (STCN's protocol: 480); resize: how frames are scaled to it.
        dense: the Annotations hold ground truth on the frames to score, not only each object's first mask.
        name: the dataset's name (default ``youtubevos<year>``; ``mose`` for MOSE).
        submission: the layout of the server's archive
            (:data:`~stcnbuf.datasets.submission.SUBMISSION_LAYOUTS`; none with ``dense``).
    """

    def __init__(self, root: str | Path, year: int = 2019, split: str = "valid", all_frames: bool = False,
                 sequences: Optional[Sequence[str]] = None, resize_masks: bool = False,
                 shorter_side: Optional[int] = 480, resize: str = "stcn", dense: bool = False,
                 name: Optional[str] = None, submission: str = "annotations") -> None:
        self.name = name or f"youtubevos{year}"
        super().__init__(root, shorter_side, resize)
        self.dense = self.scorable = bool(dense)
        self.submission = None if self.dense else check_layout(submission)
        self.protocol = "present"
        self.year, self.split, self.resize_masks = int(year), split, resize_masks
        self.split_dir = self.root / split
        if not (self.split_dir / "JPEGImages").is_dir():
            raise FileNotFoundError(f"{self.name}: {self.split_dir / 'JPEGImages'} not found "
                                    "(data.root must hold the split folders, e.g. valid/)")
        self.all_frames_dir = self.root / "all_frames" / f"{split}_all_frames" / "JPEGImages" if all_frames else None
        if self.all_frames_dir is not None and not self.all_frames_dir.is_dir():
            raise FileNotFoundError(f"{self.name}: {self.all_frames_dir} not found; download the all-frames "
                                    "archive or set data.all_frames=false")
        self.meta = self._read_meta()
        available = sorted(self.meta) if self.meta else sorted(
            p.name for p in (self.split_dir / "JPEGImages").iterdir() if p.is_dir())
        self.names = self.select(sequences, available, False, str(self.split_dir / "meta.json"))

    def _read_meta(self) -> Dict[str, dict]:
        path = self.split_dir / "meta.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())["videos"]
        except (json.JSONDecodeError, KeyError) as error:
            raise ValueError(f"{path} is not a YouTube-VOS meta.json ({error})") from error

    def has_sequence(self, name: str) -> bool:
        return (self.split_dir / "JPEGImages" / name).is_dir()

    def sequence(self, name: str) -> VideoSequence:
        required = list_images(self.split_dir / "JPEGImages" / name)
        frames = list_images(self.all_frames_dir / name) if self.all_frames_dir is not None else required
        position = {p.stem: i for i, p in enumerate(frames)}
        absent = [p.name for p in required if p.stem not in position]
        if absent:
            raise FileNotFoundError(f"{self.name}/{name}: required frames {absent[:5]} are missing from "
                                    f"{frames[0].parent}")
        masks = masks_by_frame(frames, self.split_dir / "Annotations" / name, required_first=False)
        self._check_meta(name, frames, masks)
        return VideoSequence(name, frames, masks, output_frames=[position[p.stem] for p in required],
                             annotation_use="new_objects", resize_masks=self.resize_masks)

    def _check_meta(self, name: str, frames: List[Path], masks: Dict[int, Path]) -> None:
        objects = self.meta.get(name, {}).get("objects", {})
        stems = {frames[i].stem for i in masks}
        for object_id, info in objects.items():
            first = (info.get("frames") or [None])[0]
            if first is not None and first not in stems:
                raise FileNotFoundError(f"{self.name}/{name}: meta.json says object {object_id} first appears on "
                                        f"frame {first}, but {self.split_dir / 'Annotations' / name / (first + '.png')} "
                                        "does not exist")
