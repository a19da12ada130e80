"""Per-frame object masks as run-length encoded JSON-lines files (``*.rle.jsonl``).

File format, one JSON object per line:

- line 1, the header::

    {"format": "stcnbuf-rle", "version": 1, "height": H, "width": W, "num_frames": N,
     "fps": F or null, "object_ids": [1, 2, ...], "source": "path or null", "extra": {...}}

- every other line, one frame::

    {"frame": i, "objects": {"<id>": {"size": [H, W], "counts": "..."}, ...}, "confidence": {"<id>": c, ...}}

  ``counts`` is the COCO (pycocotools) compressed RLE string, in column-major order. Every object of the
  header has an entry on every frame (an empty mask where it is absent); files that leave empty objects out
  read the same. ``confidence`` (optional; files without it read the same) holds each object's confidence in
  [0, 1] (:mod:`stcnbuf.engine.confidence`). Frames may come in any order
  (a segmenter may go forward then backward from a middle frame); when a frame appears twice, the later
  line wins.

:class:`RLEWriter` appends one flushed line per frame to ``PATH.partial`` and renames it to ``PATH`` once
every frame is written, so ``PATH`` is always complete and an interrupted run can resume from the
``.partial`` file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from rlemasklib import RLEMask

from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.io.masks import require_size

FORMAT = "stcnbuf-rle"
VERSION = 1
PARTIAL_SUFFIX = ".partial"
# Header fields that must agree for a .partial file to be resumed.
_RESUME_FIELDS = ("height", "width", "num_frames", "object_ids", "source")


def partial_path(path: str | os.PathLike) -> Path:
    """Where :class:`RLEWriter` writes ``path`` until every frame is in."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def rle_to_json(mask: RLEMask) -> dict[str, Any]:
    """A mask as a JSON-ready COCO RLE ``{"size": [h, w], "counts": "..."}``."""
    rle = mask.to_dict()
    counts = rle["counts"].decode("ascii") if isinstance(rle["counts"], bytes) else rle["counts"]
    return {"size": [int(s) for s in rle["size"]], "counts": counts}


def rle_from_json(rle: Any) -> RLEMask:
    """A mask from a COCO RLE dict: ``counts`` as a string, bytes, or an uncompressed list of run lengths."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"expected a COCO RLE object with 'size' and 'counts', got {_short(rle)}")
    size, counts = rle["size"], rle["counts"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) and s >= 0 for s in size)):
        raise ValueError(f"RLE 'size' must be [height, width], got {_short(size)}")
    if isinstance(counts, list):
        return RLEMask.from_dict({"size": list(size), "ucounts": counts})
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    if not isinstance(counts, bytes):
        raise ValueError(f"RLE 'counts' must be a string or a list of run lengths, got {_short(counts)}")
    return RLEMask.from_dict({"size": list(size), "counts": counts})


def masks_from_label_map(label_map: np.ndarray) -> dict[int, RLEMask]:
    """The non-empty object masks of an ``H×W`` label map (0 = background), by id."""
    label_map = np.asarray(label_map)
    if label_map.ndim != 2:
        raise ValueError(f"a label map must be H×W, got shape {label_map.shape}")
    if label_map.dtype != np.uint8:
        if not np.issubdtype(label_map.dtype, np.integer):
            raise ValueError(f"a label map must hold integer ids, got dtype {label_map.dtype}")
        if label_map.min(initial=0) < 0:
            raise ValueError(f"label ids must be >= 0, got {label_map.min()}")
        if label_map.max(initial=0) > 255:
            return {int(i): RLEMask.from_array(label_map == i) for i in np.unique(label_map) if i != 0}
        label_map = label_map.astype(np.uint8)
    return RLEMask.from_label_map(label_map)


def label_map_from_masks(masks: Mapping[int, RLEMask], shape: tuple[int, int]) -> np.ndarray:
    """An ``H×W`` label map (uint8 if every id is below 256, else int32); later masks win overlaps."""
    ids = list(masks)
    dtype = np.uint8 if all(i < 256 for i in ids) else np.int32
    if not ids:
        return np.zeros(shape, dtype)
    if len(ids) < 256:  # merge_to_label_map numbers the masks 1..len in a uint8 map
        lut = np.array([0, *ids], dtype)
        return np.ascontiguousarray(lut[RLEMask.merge_to_label_map([masks[i] for i in ids])])
    labels = np.zeros(shape, dtype)
    for i in ids:
        labels[masks[i].to_array(order="C").astype(bool)] = i
    return labels


@dataclass
class RLEFile:
    """The contents of an RLE file: header fields and ``frames[frame][object_id] -> RLEMask`` (non-empty only)."""

    height: int
    width: int
    num_frames: int
    object_ids: list[int]
    fps: float | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    frames: dict[int, dict[int, RLEMask]] = field(default_factory=dict)
    confidence: dict[int, dict[int, float]] = field(default_factory=dict)  #: frame -> {object id: confidence}

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "height": self.height, "width": self.width,
                "num_frames": self.num_frames, "fps": self.fps, "object_ids": list(self.object_ids),
                "source": self.source, "extra": self.extra}

    def _objects(self, frame: int) -> dict[int, RLEMask]:
        if frame not in self.frames:
            raise KeyError(f"frame {frame} is not in the file ({len(self.frames)} of {self.num_frames} frames present)")
        return self.frames[frame]

    def label_map(self, frame: int) -> np.ndarray:
        """Frame ``frame`` as an ``H×W`` label map (uint8 if every id is below 256, else int32)."""
        objects = self._objects(frame)
        masks = {i: objects[i] for i in self.object_ids if i in objects}
        labels = label_map_from_masks(masks, (self.height, self.width))
        return labels.astype(np.uint8 if max(self.object_ids, default=0) < 256 else np.int32, copy=False)

    def mask(self, frame: int, object_id: int) -> np.ndarray:
        """Object ``object_id``'s mask in frame ``frame``, ``H×W`` bool (all False where it is absent)."""
        if object_id not in self.object_ids:
            raise KeyError(f"object {object_id} is not in the file (ids {self.object_ids})")
        mask = self._objects(frame).get(object_id)
        if mask is None:
            return np.zeros((self.height, self.width), bool)
        return mask.to_array(order="C").astype(bool)

    def is_complete(self) -> bool:
        """Whether every frame ``0..num_frames-1`` is present."""
        return all(t in self.frames for t in range(self.num_frames))


def _header_from_json(header: Any) -> RLEFile:
    """Check a parsed header line and return an :class:`RLEFile` without frames."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ValueError(f"not a {FORMAT} file (header format is {found!r})")
    if header.get("version") != VERSION:
        raise ValueError(f"unsupported {FORMAT} version {header.get('version')!r} (this reader knows {VERSION})")
    for key in ("height", "width", "num_frames"):
        if not isinstance(header.get(key), int) or header[key] < 0:
            raise ValueError(f"header {key!r} must be a non-negative integer, got {_short(header.get(key))}")
    ids = header.get("object_ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and i > 0 for i in ids) or len(set(ids)) != len(ids):
        raise ValueError(f"header 'object_ids' must be a list of distinct positive integers, got {_short(ids)}")
    if not (header.get("fps") is None or isinstance(header["fps"], (int, float))):
        raise ValueError(f"header 'fps' must be a number or null, got {_short(header['fps'])}")
    if not (header.get("extra") is None or isinstance(header["extra"], dict)):
        raise ValueError(f"header 'extra' must be an object, got {_short(header['extra'])}")
    return RLEFile(height=header["height"], width=header["width"], num_frames=header["num_frames"], object_ids=ids,
                   fps=header.get("fps"), source=header.get("source"), extra=header.get("extra") or {})


def _frame_from_json(line: Any, rle: RLEFile) -> tuple[int, dict[int, RLEMask]]:
    """Check a parsed frame line against the header; return ``(frame, {id: mask})``."""
    if not (isinstance(line, dict) and isinstance(line.get("frame"), int) and isinstance(line.get("objects"), dict)):
        raise ValueError(f"expected {{'frame': int, 'objects': {{...}}}}, got {_short(line)}")
    frame = line["frame"]
    if not 0 <= frame < rle.num_frames:
        raise ValueError(f"frame {frame} is outside 0..{rle.num_frames - 1}")
    masks = {}
    for key, value in line["objects"].items():
        if not key.isdigit() or int(key) not in rle.object_ids:
            raise ValueError(f"object {key!r} is not in the header's object_ids {rle.object_ids}")
        mask = rle_from_json(value)
        if mask.shape != (rle.height, rle.width):
            raise ValueError(f"object {key} has size {list(mask.shape)}, the header says {[rle.height, rle.width]}")
        if mask.any():
            masks[int(key)] = mask
    return frame, masks


def _confidence_from_json(line: dict, rle: RLEFile) -> dict[int, float] | None:
    """The optional ``confidence`` of a frame line, checked against the header."""
    values = line.get("confidence")
    if values is None:
        return None
    if not isinstance(values, dict):
        raise ValueError(f"'confidence' must be an object {{\"<id>\": number}}, got {_short(values)}")
    confidence = {}
    for key, value in values.items():
        if not key.isdigit() or int(key) not in rle.object_ids:
            raise ValueError(f"confidence of object {key!r}, which is not in the header's object_ids {rle.object_ids}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"confidence of object {key} must be a number in [0, 1], got {_short(value)}")
        confidence[int(key)] = float(value)
    return confidence


def _parse_lines(path: Path, lines: Iterable[str]) -> RLEFile:
    """Parse header and frame lines (1-based line numbers in errors)."""
    rle = None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
            if rle is None:
                rle = _header_from_json(value)
            else:
                frame, masks = _frame_from_json(value, rle)
                rle.frames[frame] = masks
                confidence = _confidence_from_json(value, rle)
                if confidence is None:
                    rle.confidence.pop(frame, None)
                else:
                    rle.confidence[frame] = confidence
        except (ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{path}: line {number}: {error}") from error
    if rle is None:
        raise ValueError(f"{path}: empty file, not a {FORMAT} file")
    rle.frames = dict(sorted(rle.frames.items()))
    rle.confidence = dict(sorted(rle.confidence.items()))
    return rle


def _complete_lines(text: str) -> list[str]:
    """The newline-terminated lines of ``text``, without a truncated last line a crash may have left."""
    return [line + "\n" for line in text.split("\n")[:-1]]


def read_rle_file(path: str | os.PathLike, *, partial: bool = False) -> RLEFile:
    """Read an RLE file.

    A ``.partial`` file (from an unfinished :class:`RLEWriter`) is read when its own path is given, or when
    ``path`` is missing and ``partial=True``; its truncated last line, if any, is dropped.
    """
    path = Path(path)
    if not path.is_file():
        if partial_path(path).is_file():
            if not partial:
                raise FileNotFoundError(f"RLE file not found: {path} (an unfinished {partial_path(path).name} "
                                        "exists; pass partial=True to read it)")
            path = partial_path(path)
        else:
            raise FileNotFoundError(f"RLE file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a {FORMAT} file (not UTF-8 text)") from error
    lines = _complete_lines(text) if path.name.endswith(PARTIAL_SUFFIX) else text.split("\n")
    return _parse_lines(path, lines)


def _frame_line(frame: int, masks: Mapping[int, RLEMask], header: RLEFile,
                confidence: Mapping[int, float] | None = None) -> str:
    """One frame line with an entry for every object of the header (an empty mask where it is absent) and, if
    given, the objects' confidence (rounded to 4 decimals)."""
    shape = (header.height, header.width)
    objects = {str(i): rle_to_json(masks[i] if i in masks else RLEMask.zeros(shape)) for i in header.object_ids}
    line: dict[str, Any] = {"frame": frame, "objects": objects}
    if confidence is not None:
        line["confidence"] = {str(i): round(float(c), 4) for i, c in confidence.items()}
    return json.dumps(line, separators=(",", ":")) + "\n"


def write_rle_file(path: str | os.PathLike, rle: RLEFile) -> Path:
    """Write a whole RLE file at once, atomically, frames sorted."""
    lines = [json.dumps(rle.header()) + "\n"]
    lines += [_frame_line(t, masks, rle, rle.confidence.get(t)) for t, masks in sorted(rle.frames.items())]
    return atomic_write_text(path, "".join(lines))


class RLEWriter:
    """Write an RLE file frame by frame, in any order, resumably.

    Each :meth:`write` appends and flushes one line to ``path.partial``, so a crash loses at most the frame
    being written. :meth:`close` (or leaving the ``with`` block) renames the ``.partial`` file to ``path`` once
    every frame ``0..num_frames-1`` is written, and otherwise leaves it for a later ``resume=True`` run: that
    keeps its complete lines (their frames are in :attr:`done`) if its header has the same height, width,
    num_frames, object_ids and source (fps and extra are kept from the file), and raises ``ValueError``
    naming the differing fields if not. :attr:`header` is the file's header (an :class:`RLEFile` without frames).
    """

    def __init__(self, path: str | os.PathLike, height: int, width: int, num_frames: int, object_ids: Iterable[int],
                 fps: float | None = None, source: str | os.PathLike | None = None,
                 extra: Mapping[str, Any] | None = None, resume: bool = False) -> None:
        self.path = Path(path)
        self.partial_path = partial_path(self.path)
        self.header = _header_from_json(RLEFile(
            height=int(height), width=int(width), num_frames=int(num_frames), object_ids=[int(i) for i in object_ids],
            fps=None if fps is None else float(fps), source=None if source is None else str(source),
            extra=dict(extra or {})).header())
        self.done: set[int] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.partial_path.is_file() and self._resume():
            self._file = open(self.partial_path, "a", encoding="utf-8")
        else:
            self._file = open(self.partial_path, "w", encoding="utf-8")
            self._file.write(json.dumps(self.header.header()) + "\n")
            self._file.flush()
        self.closed = False

    def _resume(self) -> bool:
        """Keep the complete lines of the existing ``.partial`` file; False if it has no complete header."""
        text = self.partial_path.read_text(encoding="utf-8")
        lines = _complete_lines(text)
        if not lines:
            return False
        existing = _parse_lines(self.partial_path, lines)
        differing = [key for key in _RESUME_FIELDS if getattr(existing, key) != getattr(self.header, key)]
        if differing:
            details = ", ".join(f"{key}: file has {getattr(existing, key)!r}, expected {getattr(self.header, key)!r}"
                                for key in differing)
            raise ValueError(f"cannot resume {self.partial_path}: its header differs in {details}")
        keep = "".join(lines)
        if len(keep) != len(text):
            with open(self.partial_path, "r+b") as file:
                file.truncate(len(keep.encode("utf-8")))
        self.done = set(existing.frames)
        existing.frames = {}
        self.header = existing
        return True

    @property
    def missing(self) -> list[int]:
        """Frames not written yet, sorted."""
        return [t for t in range(self.header.num_frames) if t not in self.done]

    def write(self, frame: int, label_map: np.ndarray, confidence: Mapping[int, float] | None = None) -> None:
        """Write frame ``frame`` from an ``H×W`` label map (0 = background; every other id must be an object) and,
        optionally, each object's confidence."""
        label_map = np.asarray(label_map)
        if label_map.shape != (self.header.height, self.header.width):
            raise ValueError(f"frame {frame}: label map has shape {label_map.shape}, "
                             f"expected {(self.header.height, self.header.width)}")
        self.write_masks(frame, masks_from_label_map(label_map), confidence)

    def write_masks(self, frame: int, masks: Mapping[int, RLEMask],
                    confidence: Mapping[int, float] | None = None) -> None:
        """Write frame ``frame`` from ``{object_id: mask}`` (absent objects are stored as empty masks) and,
        optionally, ``{object_id: confidence in [0, 1]}``."""
        if self.closed:
            raise ValueError(f"{self.path}: writer is closed")
        if not 0 <= frame < self.header.num_frames:
            raise ValueError(f"frame {frame} is outside 0..{self.header.num_frames - 1}")
        unknown = sorted(set(masks) - set(self.header.object_ids))
        if unknown:
            raise ValueError(f"frame {frame}: ids {unknown} are not in object_ids {self.header.object_ids}")
        for i, mask in masks.items():
            if mask.shape != (self.header.height, self.header.width):
                raise ValueError(f"frame {frame}: object {i} has shape {mask.shape}, "
                                 f"expected {(self.header.height, self.header.width)}")
        if confidence is not None:
            unknown = sorted(set(confidence) - set(self.header.object_ids))
            if unknown or not all(0 <= c <= 1 for c in confidence.values()):
                raise ValueError(f"frame {frame}: confidence {dict(confidence)} needs ids of {self.header.object_ids} "
                                 "and values in [0, 1]")
        self._file.write(_frame_line(frame, masks, self.header, confidence))
        self._file.flush()
        self.done.add(frame)

    def close(self) -> int:
        """Close; rename ``.partial`` to the final path if every frame is written. Returns the number missing."""
        if not self.closed:
            self._file.close()
            self.closed = True
            if not self.missing:
                os.replace(self.partial_path, self.path)
        return len(self.missing)

    def __enter__(self) -> RLEWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def is_rle_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts with a stcnbuf-rle header line (a multi-frame file rather than a single mask)."""
    try:
        with open(path, encoding="utf-8") as file:
            first = json.loads(file.readline())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(first, dict) and "format" in first


def read_mask_json(path: str | os.PathLike, frame: int | None = None,
                   allowed_sizes: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """An initial label map from a JSON mask file.

    Accepted: a stcnbuf-rle file (frame ``frame``, default the first one present); a JSON object
    ``{"<id>": {"size": [h, w], "counts": ...}, ...}``; a list ``[{"id": k, "segmentation": {...}}, ...]``;
    or a single COCO RLE ``{"size", "counts"}`` (object id 1). Overlaps: later objects win. A size that is none
    of ``allowed_sizes`` (``H, W``; none given: any) is refused before the label map is decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file not found: {path}")
    if is_rle_file(path):
        rle = read_rle_file(path)
        if not rle.frames:
            raise ValueError(f"{path}: the file holds no frames")
        frame = next(iter(rle.frames)) if frame is None else frame
        if frame not in rle.frames:
            raise ValueError(f"{path}: frame {frame} is not in the file ({len(rle.frames)} frames present, "
                             f"from {min(rle.frames)} to {max(rle.frames)})")
        require_size(path, (rle.height, rle.width), allowed_sizes)
        return rle.label_map(frame)
    if frame is not None:
        raise ValueError(f"{path}: frame={frame} given, but this is a single-mask JSON file, not a {FORMAT} file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from error
    try:
        masks = _masks_from_json(data)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error}") from error
    shapes = {m.shape for m in masks.values()}
    if len(shapes) != 1:
        raise ValueError(f"{path}: masks have different sizes {sorted(shapes)}" if shapes else f"{path}: no masks")
    size = shapes.pop()
    require_size(path, size, allowed_sizes)
    return label_map_from_masks(masks, size)


def _masks_from_json(data: Any) -> dict[int, RLEMask]:
    """``{id: mask}`` from the single-mask JSON shapes accepted by :func:`read_mask_json`."""
    expected = ('expected {"<id>": {"size", "counts"}, ...}, [{"id": k, "segmentation": {"size", "counts"}}, ...] '
                'or a COCO RLE {"size", "counts"}')
    if isinstance(data, dict) and "counts" in data:
        return {1: rle_from_json(data)}
    if isinstance(data, dict):
        items = list(data.items())
        if not all(isinstance(k, str) and k.isdigit() and int(k) > 0 for k, _ in items):
            raise ValueError(f"object keys must be positive integer ids; {expected}")
        pairs = [(int(k), v) for k, v in items]
    elif isinstance(data, list):
        if not all(isinstance(d, dict) and isinstance(d.get("id"), int) and d["id"] > 0 and "segmentation" in d
                   for d in data):
            raise ValueError(f"list entries need a positive integer 'id' and a 'segmentation'; {expected}")
        pairs = [(d["id"], d["segmentation"]) for d in data]
    else:
        raise ValueError(f"got a JSON {type(data).__name__}; {expected}")
    masks: dict[int, RLEMask] = {}
    for i, rle in pairs:
        if i in masks:
            raise ValueError(f"object id {i} appears twice")
        masks[i] = rle_from_json(rle)
    return masks


def complete_rle_file(path: str | os.PathLike, num_frames: int) -> bool:
    """Whether ``path`` is a readable RLE file holding every one of ``num_frames`` frames (its content, not its
    existence, says a run finished it)."""
    try:
        rle = read_rle_file(path)
    except (OSError, ValueError):
        return False
    return rle.num_frames == num_frames and rle.is_complete()
