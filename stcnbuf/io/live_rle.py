"""RLE files of live sources, whose length is known only when they end.

:class:`LiveRLEWriter` appends one flushed line per frame to ``PATH.partial``, whose header says the count is
still open (``num_frames: 0``, ``extra.live: "open"``); closing writes ``PATH`` atomically, a complete
:mod:`stcnbuf.io.rle` file whose header's ``num_frames`` is the number of frames written (``extra.live: true``),
and removes the ``.partial`` file. What a killed run left is read with :func:`read_live_file` and closed with
:func:`close_live_file`, which keep its complete lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.io.rle import (PARTIAL_SUFFIX, RLEFile, _complete_lines, _frame_line, _header_from_json, _parse_lines,
                            masks_from_label_map, partial_path)

OPEN = "open"


class LiveRLEWriter:
    """Write the frames of a live source, numbered 0, 1, ... in arrival order, each flushed as it comes.

    :meth:`close` (or leaving the ``with`` block) writes the complete file ``path`` of every frame written, with
    ``extra`` added to its header.
    """

    def __init__(self, path: str | os.PathLike, height: int, width: int, object_ids: Iterable[int],
                 fps: float | None = None, source: str | None = None, extra: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.partial_path = partial_path(self.path)
        self.header = _header_from_json(RLEFile(
            height=int(height), width=int(width), num_frames=0, object_ids=[int(i) for i in object_ids],
            fps=None if fps is None else float(fps), source=source, extra={**(extra or {}), "live": OPEN}).header())
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.partial_path, "w", encoding="utf-8")
        self._file.write(json.dumps(self.header.header()) + "\n")
        self._file.flush()
        self.closed = False

    def write(self, label_map: np.ndarray, confidence: Mapping[int, float] | None = None) -> int:
        """Append the next frame from an ``H×W`` label map (and, optionally, each object's confidence); returns
        its index."""
        if self.closed:
            raise ValueError(f"{self.path}: writer is closed")
        label_map = np.asarray(label_map)
        if label_map.shape != (self.header.height, self.header.width):
            raise ValueError(f"frame {self.frames}: label map has shape {label_map.shape}, "
                             f"expected {(self.header.height, self.header.width)}")
        masks = masks_from_label_map(label_map)
        unknown = sorted(set(masks) - set(self.header.object_ids))
        if unknown:
            raise ValueError(f"frame {self.frames}: ids {unknown} are not in object_ids {self.header.object_ids}")
        self._file.write(_frame_line(self.frames, masks, self.header, confidence))
        self._file.flush()
        self.frames += 1
        return self.frames - 1

    def close(self, extra: Mapping[str, Any] | None = None) -> Path:
        """Write the complete file (``num_frames`` = frames written) and remove the ``.partial`` one."""
        if not self.closed:
            self._file.close()
            self.closed = True
            close_live_file(self.partial_path, self.path, extra)
        return self.path

    def __enter__(self) -> LiveRLEWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_file(partial: Path) -> tuple[dict[str, Any], list[str]]:
    """The header and complete frame lines of an open live file."""
    lines = _complete_lines(partial.read_text(encoding="utf-8"))
    header = json.loads(lines[0]) if lines else None
    if not isinstance(header, dict) or (header.get("extra") or {}).get("live") != OPEN:
        raise ValueError(f"{partial} is not the open file of a live source (its header has no extra.live={OPEN!r})")
    return header, lines[1:]


def read_live_file(partial: str | os.PathLike) -> "RLEFile":
    """The frames an open live file holds so far (a running or killed run's ``.partial`` file), as an
    :class:`~stcnbuf.io.rle.RLEFile` whose ``num_frames`` counts them."""
    partial = Path(partial)
    header, frames = _open_file(partial)
    header["num_frames"] = len(frames)
    return _parse_lines(partial, [json.dumps(header) + "\n", *frames])


def close_live_file(partial: str | os.PathLike, path: Optional[str | os.PathLike] = None,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``path`` (default: ``partial`` without ``.partial``) atomically: the complete lines of the open
    live file ``partial`` under a header counting them (``extra`` added); then remove ``partial``."""
    partial = Path(partial)
    path = Path(path) if path is not None else partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
    header, frames = _open_file(partial)
    numbers = [json.loads(line).get("frame") for line in frames[-1:]] if frames else []
    if numbers and numbers[0] != len(frames) - 1:
        raise ValueError(f"{partial}: {len(frames)} frame lines, the last numbered {numbers[0]}: not written by "
                         "one live run")
    header.update(num_frames=len(frames), extra={**header["extra"], **(extra or {}), "live": True})
    _header_from_json(header)
    atomic_write_text(path, json.dumps(header) + "\n" + "".join(frames))
    partial.unlink()
    return path


__all__ = ["LiveRLEWriter", "close_live_file", "read_live_file"]
