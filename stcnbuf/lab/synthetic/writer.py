"""Writing generated sequences: each frame as a JPEG and its label map as a palette PNG, sequences in parallel
worker processes when there are enough frames to pay for them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator, Optional, Tuple

import cv2
import numpy as np

from stcnbuf.io import write_label_png

JPEG_QUALITY = 90


def write_frames(frames: Iterator[Tuple[np.ndarray, np.ndarray]], images: Path, annotations: Path) -> int:
    """Write (RGB frame, label map) pairs as ``images/00000.jpg`` and ``annotations/00000.png`` ...; returns
    the number of frames."""
    images.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    count = 0
    for frame, (image, labels) in enumerate(frames):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {images / f'{frame:05d}.jpg'}")
        (images / f"{frame:05d}.jpg").write_bytes(data.tobytes())
        write_label_png(annotations / f"{frame:05d}.png", labels)
        count += 1
    return count


def workers_for(total_frames: int, requested: Optional[int] = None) -> int:
    """How many worker processes write a dataset of ``total_frames`` frames: ``requested`` (at least 1), else up
    to 8 of the available cores from 600 frames on (below that, a process pool costs more than it saves)."""
    if requested is not None:
        return max(1, int(requested))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8)) if total_frames >= 600 else 1


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


@contextlib.contextmanager
def worker_map(workers: int) -> Iterator[Callable]:
    """A ``map`` over ``workers`` spawned processes (the built-in ``map`` for one worker)."""
    if workers <= 1:
        yield map
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    # spawn: safe even when the caller runs threads (torch, data loaders); costs about a second
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)
    try:
        yield pool.map
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
