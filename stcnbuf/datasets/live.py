"""Live video: a camera, a network stream or standard input, read frame by frame as the frames arrive.

A live source has no length and cannot go back: :class:`LiveVideo` reads it in a thread into a bounded queue
and hands the frames out in order, each with the time it arrived. ``video=`` names one as:

- ``-``: standard input, raw ``rgb24`` frames of ``size`` ``(W, H)`` (as ``ffmpeg -f rawvideo -pix_fmt rgb24 -``
  writes them) or, without ``size``, a streamable container (mkv, mpegts, fragmented mp4) that PyAV decodes;
- ``N`` (a number) or ``/dev/videoN``: a camera, opened with OpenCV;
- ``scheme://...`` (``rtsp``, ``rtmp``, ``http(s)``, ``udp``, ``srt``, ...): a network stream, opened with PyAV
  (FFmpeg).
"""

from __future__ import annotations

import logging
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, List, Optional, Tuple

import numpy as np

from stcnbuf.datasets.frames import check_resize_method, resize_frame, working_size

log = logging.getLogger(__name__)

STDIN = "-"
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_CAMERA_DEVICE = re.compile(r"^/dev/video\d+$")


def is_live_video(spec: object) -> bool:
    """Whether ``video=spec`` names a live source: ``-``, a camera number or ``/dev/videoN``, or a URL (a number
    that names an existing file or folder is that file or folder)."""
    text = str(spec).strip()
    if text == STDIN or _URL.match(text) or _CAMERA_DEVICE.match(text):
        return True
    return text.isdigit() and not Path(text).exists()


def parse_frame_size(size: Optional[str]) -> Optional[Tuple[int, int]]:
    """``reader.size`` ``WxH`` as ``(W, H)`` (``None`` stays ``None``)."""
    if size is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(size))
    if not match or 0 in (int(match[1]), int(match[2])):
        raise ValueError(f"reader.size={size!r}: give the raw frames' size as WIDTHxHEIGHT, e.g. reader.size=640x480")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class LiveFrame:
    """A frame as it arrived: its position among the frames the source delivered, the ``H×W×3`` uint8 RGB
    image at its original size, and ``time.perf_counter()`` when the reader got it."""

    stream_index: int
    image: np.ndarray
    arrival: float


Frames = Iterator[np.ndarray]


def raw_frames(stream: BinaryIO, width: int, height: int) -> Frames:
    """Raw ``rgb24`` frames of ``width × height`` from a byte stream, until it ends (a truncated last frame is
    dropped with a warning)."""
    size = width * height * 3
    while True:
        buffer = bytearray(size)
        view, filled = memoryview(buffer), 0
        while filled < size:
            count = stream.readinto(view[filled:])
            if not count:
                break
            filled += count
        if filled < size:
            if filled:
                log.warning("the raw stream ended inside a frame (%d of %d bytes): that frame is dropped", filled, size)
            return
        yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3)


def container_frames(target: str | BinaryIO, describe: str) -> Tuple[Frames, Optional[float], Callable[[], None]]:
    """Frames of a container or network stream decoded with PyAV: ``(frames, fps or None, close)``."""
    import av

    try:
        container = av.open(target, mode="r", timeout=30)
    except Exception as error:  # PyAV raises FFmpeg's errors as several types
        raise ValueError(f"video={describe}: cannot open the stream ({error})") from error
    if not container.streams.video:
        container.close()
        raise ValueError(f"video={describe}: the stream has no video track")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else None

    def frames() -> Frames:
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as error:  # a stream that breaks off ends the run like one that ends
            log.warning("video=%s: the stream ended with an error: %s", describe, error)

    return frames(), fps, container.close


def camera_frames(camera: int | str) -> Tuple[Frames, Optional[float], Callable[[], None]]:
    """Frames of a camera (a number or a device path) read with OpenCV: ``(frames, fps or None, close)``."""
    import cv2

    capture = cv2.VideoCapture(camera)
    if not capture.isOpened():
        raise ValueError(f"video={camera}: cannot open the camera (is it connected, and free? cameras are numbered "
                         "from 0; on Linux /dev/videoN)")
    fps = capture.get(cv2.CAP_PROP_FPS) or None

    def frames() -> Frames:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield np.ascontiguousarray(frame[..., ::-1])

    return frames(), fps, capture.release


def open_frames(spec: str, size: Optional[Tuple[int, int]], stdin: Optional[BinaryIO] = None
                ) -> Tuple[Frames, Optional[float], Callable[[], None]]:
    """The frames of live source ``spec`` (see :func:`is_live_video`): ``(frames, fps or None, close)``."""
    if spec == STDIN:  # unbuffered: a reader thread blocked on it holds no lock the interpreter's exit needs
        stream = stdin or open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
        if size is not None:
            return raw_frames(stream, *size), None, lambda: None
        return container_frames(stream, spec)
    if size is not None:
        raise ValueError(f"reader.size={size[0]}x{size[1]} is for raw frames on standard input (video=-); "
                         f"video={spec} tells its own size: leave reader.size out")
    if spec.isdigit() or _CAMERA_DEVICE.match(spec):
        return camera_frames(int(spec) if spec.isdigit() else spec)
    return container_frames(spec, spec)


class LiveVideo:
    """A live source read in a thread: frames in arrival order, with the time each arrived.

    The reader thread puts frames into a queue of ``queue_frames``. When the queue is full the segmenter is
    behind: without ``drop_late`` the reader waits (the source's own buffer, or the pipe, holds the frames; the
    wait is counted in :attr:`full_waits`); with ``drop_late`` :meth:`frames` skips to the newest frame waiting,
    and the frames skipped are counted in :attr:`dropped`. The first frame is read when the source opens; it
    gives the size.

    Args:
        spec: what ``video=`` says (:func:`is_live_video`).
        shorter_side, resize: working size and resize method, as for :class:`~stcnbuf.datasets.video.VideoSource`.
        size: ``(W, H)`` of raw frames on standard input (``None``: standard input carries a container).
        queue_frames: frames the queue holds.
        drop_late: drop the frames the segmenter has no time for.
        stdin: the byte stream read for ``-`` (default: standard input's file descriptor).
    """

    def __init__(self, spec: str, shorter_side: Optional[int] = 480, resize: str = "stcn",
                 size: Optional[Tuple[int, int]] = None, queue_frames: int = 32, drop_late: bool = False,
                 stdin: Optional[BinaryIO] = None) -> None:
        if queue_frames < 1:
            raise ValueError(f"reader.queue_frames must be >= 1, got {queue_frames}")
        self.spec = str(spec)
        self.resize = check_resize_method(resize)
        self.drop_late = drop_late
        self.dropped = 0
        self.full_waits = 0
        self.delivered = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_frames)
        self._stop = threading.Event()
        frames, self.fps, self._close = open_frames(self.spec, size, stdin)
        self._thread = threading.Thread(target=self._read, args=(frames,), name="live-reader", daemon=True)
        self._thread.start()
        first = self._next(None, newest=False)  # the initial frame, never dropped
        if first is None:
            self.close()
            raise ValueError(f"video={self.spec}: the stream ended before its first frame")
        self.first = first
        self.original_size: Tuple[int, int] = tuple(first.image.shape[:2])
        self.working_size = working_size(self.original_size, shorter_side)

    def _read(self, frames: Frames) -> None:
        index = 0
        try:
            for image in frames:
                item = LiveFrame(index, image, time.perf_counter())
                index += 1
                if self._queue.full():
                    self.full_waits += 1
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except Exception as error:  # a decoder failing mid-stream ends the stream, said in the log
            log.warning("video=%s: reading stopped: %s: %s", self.spec, type(error).__name__, error)
        finally:
            self._put_end()

    def _put_end(self) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(None, timeout=0.1)
                return
            except queue.Full:
                continue

    def _next(self, stop: Optional[Callable[[], bool]], newest: bool = True) -> Optional[LiveFrame]:
        """The next frame (with ``drop_late`` and ``newest``: the newest waiting); ``None`` at the end of the stream
        or when ``stop()`` says so."""
        while True:
            try:
                item = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if stop is not None and stop():
                    return None
        if self.drop_late and newest and item is not None:
            while True:
                try:
                    newer = self._queue.get_nowait()
                except queue.Empty:
                    break
                if newer is None:
                    self._queue.put(None)  # the end stays for the next call
                    break
                self.dropped += 1
                item = newer
        if item is not None:
            self.delivered += 1
        return item

    def frames(self, stop: Optional[Callable[[], bool]] = None) -> Iterator[LiveFrame]:
        """The frames from the first on, until the stream ends or ``stop()`` is true."""
        yield self.first
        while not (stop is not None and stop()):
            item = self._next(stop)
            if item is None:
                return
            yield item

    def for_segmenter(self, image: np.ndarray):
        """A frame brought to the working size by :attr:`resize`, as the segmenter takes it."""
        return resize_frame(image, self.working_size, self.resize)

    def first_frame_view(self) -> "FirstFrame":
        """The first frame as a one-frame video (what the initial masks are read or proposed on)."""
        return FirstFrame(self.original_size, self.working_size, self.first.image)

    def close(self) -> None:
        """Stop reading and release the source (once the reader thread has let go of it: a thread still
        waiting for the source's next frame keeps it until the process ends)."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        if self._thread.is_alive():
            return
        try:
            self._close()
        except Exception as error:  # releasing a broken stream must not hide what ended the run
            log.warning("video=%s: closing: %s", self.spec, error)


@dataclass(frozen=True)
class FirstFrame:
    """A live source's first frame as a video of one frame (the interface the initial masks read)."""

    original_size: Tuple[int, int]
    working_size: Tuple[int, int]
    image: np.ndarray

    def __len__(self) -> int:
        return 1

    def iterate(self, indices: List[int]) -> Iterator[np.ndarray]:
        """The frame at the working size (area averaging, as a video's frames are shown and proposed on)."""
        for index in indices:
            if index != 0:
                raise IndexError(f"a live source's initial frame is its first (0), not {index}")
            yield resize_frame(self.image, self.working_size)


__all__ = ["FirstFrame", "LiveFrame", "LiveVideo", "STDIN", "container_frames", "camera_frames", "is_live_video",
           "open_frames", "parse_frame_size", "raw_frames"]
