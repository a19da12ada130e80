"""Overlay videos: the masks of an RLE file drawn over the frames of the video."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np

from stcnbuf.datasets.video import VideoSource
from stcnbuf.io.overlay import mark, overlay
from stcnbuf.io.rle import RLEFile


def even_frame(image: np.ndarray) -> np.ndarray:
    """Pad an odd height or width by one replicated pixel (H.264 in yuv420p needs even sizes)."""
    pad_h, pad_w = image.shape[0] % 2, image.shape[1] % 2
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge") if pad_h or pad_w else image


def check_fit(rle: RLEFile, source: VideoSource) -> None:
    """Refuse masks whose frame count or size is not the video's."""
    if (rle.height, rle.width) != tuple(source.original_size) or rle.num_frames != len(source):
        raise ValueError(f"the masks ({rle.num_frames} frames of {rle.width}×{rle.height}) do not fit the video "
                         f"{source.path} ({len(source)} frames of {source.original_size[1]}×{source.original_size[0]})")


def render_overlay(rle: RLEFile, source: VideoSource, out: Path, fps: Optional[float] = None,
                   progress: Optional[Callable[[int], None]] = None, marks: Optional[Mapping[int, str]] = None) -> Path:
    """Write ``out`` (e.g. ``overlay.mp4``): every frame at the original size with its masks overlaid; the frames
    of ``marks`` (frame -> text, e.g. the frames a review lists) framed in red with their text."""
    import framepump

    check_fit(rle, source)
    rate = fps or source.fps or rle.fps or 25.0
    out.parent.mkdir(parents=True, exist_ok=True)
    with framepump.VideoWriter(out, fps=rate) as writer:
        for index, frame in enumerate(source.iterate_original(range(len(source)))):
            image = overlay(frame, rle.label_map(index), void=None)
            if marks and index in marks:
                image = mark(image, marks[index])
            writer.append_data(even_frame(image))
            if progress is not None:
                progress(1)
    return out
