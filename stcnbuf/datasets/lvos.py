"""LVOS v1 / v2 (Hong et al., ICCV 2023 / 2024): long videos, objects that come and go.

Layout: ``JPEGImages/<vid>/<8-digit frame number>.jpg``, ``Annotations/<vid>/<number>.png`` (every 5th frame
of each object's range; the first mask of each object is its input) and a meta JSON
(``{"videos": {vid: {"objects": {id: {"frame_range": {"start", "end", "frame_nums"}}}}}}``) giving each
object's annotated range. Scored with the ``lvos`` protocol (see :mod:`stcnbuf.scoring.scorer`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.datasets.folder import FolderDataset
from stcnbuf.datasets.sequence import ObjectRange, VideoSequence
from stcnbuf.io.masks import read_label_png

#: LVOS scoring protocols: ``lvos`` (correct), ``lvos_official`` (the official toolkit's numbers, quirks included)
LVOS_PROTOCOLS = ("lvos", "lvos_official")


def find_meta(root: Path) -> Path:
    """The meta JSON of an LVOS split folder: ``meta.json`` or the one ``*meta.json`` in ``root``."""
    if (root / "meta.json").is_file():
        return root / "meta.json"
    found = sorted(root.glob("*meta.json"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"lvos: no meta file in {root}: put the split's meta JSON (meta.json, "
                                "valid_meta.json, ...) from the LVOS release there, or set data.meta to its path")
    raise ValueError(f"lvos: several meta files in {root} ({', '.join(p.name for p in found)}): set data.meta to one")


def read_meta(path: Path) -> Dict[str, Dict[int, ObjectRange]]:
    """Every video's objects and their annotated ranges from an LVOS meta JSON, checked."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"lvos: meta file not found: {path}")
    try:
        videos = json.loads(Path(path).read_text())["videos"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ValueError(f"lvos: {path} is not an LVOS meta file ({{\"videos\": {{...}}}} expected): {error}") from error
    if not isinstance(videos, dict) or not all(isinstance(e, dict) and isinstance(e.get("objects", {}), dict)
                                               for e in videos.values()):
        raise ValueError(f"lvos: {path} is not an LVOS meta file: \"videos\" must map each video to "
                         "{\"objects\": {id: {\"frame_range\": ...}}}")
    result: Dict[str, Dict[int, ObjectRange]] = {}
    for video, entry in videos.items():
        ranges: Dict[int, ObjectRange] = {}
        for key, obj in entry.get("objects", {}).items():
            try:
                oid, span = int(key), obj["frame_range"]
                start, end, count = int(span["start"]), int(span["end"]), int(span["frame_nums"])
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"lvos: {path}: object {key!r} of video {video} needs an integer id and a "
                                 f"frame_range with start, end and frame_nums ({error!r})") from error
            if not 1 <= oid <= 254:
                raise ValueError(f"lvos: {path}: video {video} has object id {oid}; label PNGs hold ids 1..254")
            if end < start or count < 1:
                raise ValueError(f"lvos: {path}: object {oid} of video {video} has the range {start}..{end} with "
                                 f"{count} frames")
            ranges[oid] = ObjectRange(start, end, count)
        if not ranges:
            raise ValueError(f"lvos: {path}: video {video} lists no objects")
        result[str(video)] = ranges
    return result


class LVOSDataset(FolderDataset):
    """An LVOS split folder (``valid``, ``train``; v1 or v2).

    Args:
        root: the split folder, with ``JPEGImages``, ``Annotations`` and the meta JSON.
        meta: the meta JSON (default: :func:`find_meta` in ``root``).
        sequences: a subset of the meta's videos.
        protocol: ``lvos`` (default) or ``lvos_official`` (see :mod:`stcnbuf.scoring.scorer`).
        unseen: a list of the videos whose categories training never saw, one per line (the toolkit's
            ``unseen_videos.txt``; default: that file in ``root`` if it is there): results are then also
            reported for the seen and the unseen videos.
        resize_masks: resize masks whose size differs from their frame instead of refusing them.
        shorter_side: working resolution (``None``: native); resize: how frames are scaled to it.
    """

    name = "lvos"

    def __init__(self, root: str | Path, meta: Optional[str | Path] = None, sequences: Optional[Sequence[str]] = None,
                 protocol: str = "lvos", unseen: Optional[str | Path] = None, resize_masks: bool = False,
                 shorter_side: Optional[int] = None, resize: str = "stcn") -> None:
        VOSDataset.__init__(self, root, shorter_side, resize)
        if protocol not in LVOS_PROTOCOLS:
            raise ValueError(f"lvos: unknown protocol {protocol!r}; choose one of {', '.join(LVOS_PROTOCOLS)}")
        self.protocol, self.single, self.annotation_use, self.resize_masks = protocol, False, "new_objects", resize_masks
        self.split = self.root.name  # the split folder (valid, test, ...): the tables' set name
        self.meta_path = Path(meta).expanduser() if meta else find_meta(self.root)
        self.ranges = read_meta(self.meta_path)
        images = self.root / "JPEGImages"
        if not images.is_dir():
            raise FileNotFoundError(f"lvos: {images} not found (expected JPEGImages/, Annotations/ and the meta JSON)")
        unlisted = sorted(p.name for p in images.iterdir() if p.is_dir() and p.name not in self.ranges)
        if unlisted:
            raise ValueError(f"lvos: {len(unlisted)} video folder(s) in {images} have no entry in {self.meta_path}: "
                             f"{', '.join(unlisted[:5])}{' ...' if len(unlisted) > 5 else ''} (the meta file gives "
                             "every object's frame range; use the meta file of this split)")
        self.names = self.select(sequences, sorted(self.ranges), False, str(self.meta_path))
        self.unseen = self._unseen(unseen)
        # scored here when a video has ground truth (a broken video is reported when it is evaluated); else by the
        # server (test), which takes its archive in the layout ``annotations``
        self.scorable = any(self._has_ground_truth(n) for n in self.names)
        self.submission = None if self.scorable else "annotations"

    def _has_ground_truth(self, name: str) -> bool:
        """Whether video ``name`` has masks besides its objects' first ones (the inputs)."""
        starts = {span.start for span in self.ranges[name].values()}
        return any(not (p.stem.isdigit() and int(p.stem) in starts)
                   for p in self._folder("Annotations", name).glob("*.png"))

    def _unseen(self, unseen: Optional[str | Path]) -> Optional[List[str]]:
        path = Path(unseen).expanduser() if unseen else self.root / "unseen_videos.txt"
        if not path.is_file():
            if unseen:
                raise FileNotFoundError(f"lvos: the unseen-video list {path} does not exist")
            return None
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]

    def sequence(self, name: str) -> VideoSequence:
        """The video ``name`` with its objects' ranges, checked against its frames and masks."""
        sequence = super().sequence(name)
        frames = sequence.frame_paths
        try:
            numbers = {int(p.stem): i for i, p in enumerate(frames)}
        except ValueError as error:
            raise ValueError(f"lvos: {frames[0].parent} holds frames not named by number (LVOS names them "
                             f"00000001.jpg, ...): {error}") from error
        masks = {int(sequence.frame_name(i)): path for i, path in sequence.mask_paths.items()}
        for oid, span in self.ranges[name].items():
            for which, number in (("start", span.start), ("end", span.end)):
                if number not in numbers:
                    raise ValueError(f"lvos: {self.meta_path}: object {oid} of {name} has its range {which} at "
                                     f"frame {number}, but {frames[0].parent} has no such frame")
            first = masks.get(span.start)
            if first is None:
                raise ValueError(f"lvos: {self.meta_path}: object {oid} of {name} starts at frame {span.start}, "
                                 f"which has no mask in {self._folder('Annotations', name)}")
            if oid not in read_label_png(first):
                raise ValueError(f"lvos: {self.meta_path} says object {oid} of {name} first appears at frame "
                                 f"{span.start}, but {first} does not contain id {oid}: meta file and masks disagree")
        sequence.object_ranges = self.ranges[name]
        return sequence
