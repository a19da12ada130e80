"""Frames of a video file (decoded with framepump) or of a folder of images, streamed at a working size."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from stcnbuf.datasets.frames import check_resize_method, check_shorter_side, frame_bytes, resize_frame, working_size
from stcnbuf.datasets.sequence import list_images
from stcnbuf.engine.frame_source import FrameSource
from stcnbuf.io.masks import read_image


def _runs(indices: Sequence[int]) -> List[Tuple[int, int, int]]:
    """Split indices into maximal runs of step +1 or -1: ``(first, last, step)``."""
    runs: List[Tuple[int, int, int]] = []
    for index in indices:
        if runs:
            first, last, step = runs[-1]
            if index - last == step or (first == last and abs(index - last) == 1):
                runs[-1] = (first, index, index - last)
                continue
        runs.append((index, index, 1))
    return runs


class VideoSource:
    """A video file or image folder.

    Nothing is loaded whole: :meth:`iterate` decodes the requested frames in the requested order (forward and
    backward runs stream; other orders seek), resized so the shorter side has ``shorter_side`` pixels (by area
    averaging: the frames shown and proposed on); :meth:`frame_source` gives the segmenter its frames, brought to
    that size by ``resize``.

    Args:
        path: a video file (anything FFmpeg reads) or a folder of images (sorted by name).
        shorter_side: working resolution (``None``: native).
        constant_fps: resample a video to this constant frame rate (``None``: the native timestamps).
        start, stop, step: process frames ``[start:stop:step]`` of the video.
        resize: how the segmenter's frames reach the working size (:data:`~stcnbuf.datasets.frames.RESIZE_METHODS`:
            ``stcn``, as the datasets, decodes at the original size and resizes on the segmenter's device;
            ``area`` lets the decoder scale, cheaper on large videos).
    """

    def __init__(self, path: str | Path, shorter_side: Optional[int] = 480, constant_fps: Optional[float] = None,
                 start: int = 0, stop: Optional[int] = None, step: int = 1, resize: str = "stcn") -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise FileNotFoundError(f"video not found: {self.path}")
        for name, value, least in (("start", start, 0), ("step", step, 1), ("stop", stop, 1)):
            if value is not None and (not isinstance(value, int) or value < least):
                raise ValueError(f"reader.{name} must be an integer >= {least}{' or null' if name == 'stop' else ''}, "
                                 f"got {value!r} (frames [start:stop:step] of the video are processed)")
        check_shorter_side(shorter_side, "reader.shorter_side")
        if constant_fps is not None and (isinstance(constant_fps, bool) or not isinstance(constant_fps, (int, float))
                                         or not constant_fps > 0):
            raise ValueError(f"reader.constant_fps must be a positive frame rate or null (the video's own "
                             f"timestamps), got {constant_fps!r}")
        self.is_folder = self.path.is_dir()
        window = slice(start, stop, step)
        if self.is_folder:
            self.files = list_images(self.path)[window]
            with_size = read_image(self.files[0]) if self.files else None
            self.original_size = with_size.shape[:2] if with_size is not None else (0, 0)
            self.fps = float(constant_fps) if constant_fps else None
            self._video = None
        else:
            import framepump

            try:
                video = framepump.VideoFrames(self.path, constant_framerate=constant_fps or False)
            except Exception as error:  # framepump raises several types for unreadable files
                raise ValueError(f"cannot read video {self.path}: {error}") from error
            self._video = video[window]
            self.original_size = tuple(video.imshape)
            self.fps = float(self._video.fps)
        self.working_size = working_size(self.original_size, shorter_side)
        self.resize = check_resize_method(resize)
        if len(self) == 0:
            raise ValueError(f"{self.path} has no frames in [{start}:{stop}:{step}]")

    def __len__(self) -> int:
        return len(self.files) if self.is_folder else len(self._video)

    def frame_name(self, index: int) -> str:
        """A file stem for frame ``index`` (the image's own for folders)."""
        return self.files[index].stem if self.is_folder else f"{index:06d}"

    def iterate(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        """Frames at the working size, in the order of ``indices``."""
        return self._iterate(indices, self.working_size)

    def frame_source(self, budget_mb: float = 0.0) -> FrameSource:
        """The segmenter's frames (brought to the working size by :attr:`resize`) as a
        :class:`~stcnbuf.engine.frame_source.FrameSource` keeping up to ``budget_mb``."""
        if self.resize == "area" or self.working_size == tuple(self.original_size):
            decode = self.iterate
        else:
            def decode(indices: Sequence[int]) -> Iterator:
                return (resize_frame(frame, self.working_size, self.resize) for frame in self.iterate_original(indices))
        return FrameSource(len(self), self.working_size, decode, budget_mb,
                           frame_bytes(self.original_size, self.working_size, self.resize))

    def iterate_original(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        """Frames at their original size."""
        return self._iterate(indices, self.original_size)

    def _iterate(self, indices: Sequence[int], size: Tuple[int, int]) -> Iterator[np.ndarray]:
        if self.is_folder:
            for index in indices:
                frame = read_image(self.files[index])
                if frame.shape[:2] != self.original_size:
                    raise ValueError(f"{self.files[index]} is {frame.shape[1]}×{frame.shape[0]}, the first frame "
                                     f"{self.original_size[1]}×{self.original_size[0]}: all frames need one size")
                yield resize_frame(frame, size)
            return
        video = self._video if size == self.original_size else self._video.resized(size)
        for first, last, step in _runs(list(indices)):
            stop = last + step
            view = video[first:stop:step] if stop >= 0 else video[first::step]
            yield from view
