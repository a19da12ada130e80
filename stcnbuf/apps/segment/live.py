"""Segmenting a live source (a camera, a network stream, standard input): online, forward from the first frame,
each frame's line of ``masks.rle.jsonl`` (and PNG) flushed as soon as the frame is segmented.

The run ends at the end of the stream, after ``reader.max_frames`` frames or ``reader.max_seconds`` seconds, or on
Ctrl-C or SIGTERM; each way leaves a complete ``masks.rle.jsonl`` of the frames written (its header's
``num_frames`` counts them, :mod:`stcnbuf.io.live_rle`) and a complete ``overlay.mp4``. It reports the latency
from a frame's arrival to its line being flushed (median, p95, max) beside the frame rate.
"""

from __future__ import annotations

import logging
import os
from array import array
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from stcnbuf.apps.segment.initial import (given_masks_at_original_size, initial_annotations, initial_mask_files,
                                          object_ids)
from stcnbuf.apps.segment.render import even_frame
from stcnbuf.apps.segment.segment import _check_png_ids, _claim_output_dir
from stcnbuf.datasets.live import LiveVideo, parse_frame_size
from stcnbuf.engine.build import build_network, build_segmenter, resolve_device
from stcnbuf.engine.checkpoint import file_sha256, find_checkpoint
from stcnbuf.engine.plan import live_visit
from stcnbuf.engine.runner import Step, run_visit, written_labels
from stcnbuf.engine.settings import OfflineInference, inference_settings
from stcnbuf.io.live_rle import LiveRLEWriter, close_live_file
from stcnbuf.io.masks import write_label_png
from stcnbuf.io.overlay import overlay
from stcnbuf.io.rle import partial_path
from stcnbuf.runs.hydra_files import record_hydra_config
from stcnbuf.runs.inputs import content_digests
from stcnbuf.runs.lock import folder_lock

log = logging.getLogger(__name__)

#: frames per second of the overlay when the source tells none (raw frames on standard input)
DEFAULT_OVERLAY_FPS = 25.0


def check_live_settings(cfg: DictConfig) -> None:
    """Refuse, naming the setting and the fix, what cannot hold for a source without a length or a way back."""
    what = f"video={cfg.video} is a live source (segmented online, forward from its first frame)"
    if isinstance(inference_settings(cfg.inference), OfflineInference):
        raise ValueError(f"{what}: inference=offline needs the whole video first; use inference=online")
    if cfg.init.frame not in (None, 0):
        raise ValueError(f"{what}: its initial frame is the first frame read, not init.frame={cfg.init.frame}; "
                         "leave init.frame out (or 0)")
    reader = cfg.reader
    if (reader.start, reader.stop, reader.step) != (0, None, 1) or reader.constant_fps is not None:
        raise ValueError(f"{what}: reader.start, stop, step and constant_fps select frames of a file; for a live "
                         "source use reader.max_frames or reader.max_seconds")
    for name in ("max_frames", "max_seconds"):
        if reader[name] is not None and reader[name] <= 0:
            raise ValueError(f"reader.{name} must be positive or null, got {reader[name]}")
    cleanups = {k: v for k, v in cfg.postprocess.items() if v}
    if cleanups:
        raise ValueError(f"{what}: postprocess ({', '.join(f'postprocess.{k}={v}' for k, v in cleanups.items())}) "
                         "works on a finished masks file; leave it off here and run stcnbuf-postprocess on "
                         "masks.rle.jsonl afterwards")


def _refuse_resume(out: Path, resume: bool) -> None:
    """A live source cannot continue an earlier run: with ``resume``, an output folder holding masks is
    refused (what a killed live run left is first closed into a complete ``masks.rle.jsonl``)."""
    masks, partial = out / "masks.rle.jsonl", partial_path(out / "masks.rle.jsonl")
    if not resume or not (masks.is_file() or partial.is_file()):
        return
    saved = ""
    if partial.is_file() and not masks.is_file():
        try:
            close_live_file(partial)
            saved = f" (the frames a killed live run left in {partial.name} are now the complete {masks.name})"
        except ValueError:  # the .partial of a file run: left for that run to resume
            pass
    raise ValueError(f"{out} holds the masks of an earlier run{saved}; a live source cannot be resumed: use another "
                     "output_dir, or resume=false to overwrite them")


def _run_config(cfg: DictConfig, checkpoint: str) -> Dict[str, Any]:
    """What determines the masks of a live run, as recorded in ``segment.json``."""
    config = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("reader", "init", "memory", "inference")}
    init_files = [Path(m).expanduser() for m in initial_mask_files(cfg.init)]
    for path in init_files:
        if not path.is_file():
            raise FileNotFoundError(f"init.mask: {path} not found (give the mask of the stream's first frame)")
    config.update(video=str(cfg.video), live=True, checkpoint_sha256=file_sha256(checkpoint), device=str(cfg.device),
                  inputs={"init_masks": content_digests(init_files)})
    return config


class StopRequest:
    """When a live run stops: ``reader.max_frames``, ``reader.max_seconds``, Ctrl-C or SIGTERM (a second Ctrl-C
    interrupts at once). Used as a context manager, it handles the signals in the main thread."""

    def __init__(self, max_frames: Optional[int], max_seconds: Optional[float]) -> None:
        self.max_frames, self.max_seconds = max_frames, max_seconds
        self.began = time.perf_counter()
        self.reason: Optional[str] = None
        self._previous: Dict[int, Any] = {}

    def __call__(self, frames: int = 0) -> bool:
        """Whether to stop, ``frames`` having been written."""
        if self.reason is None and self.max_frames is not None and frames >= self.max_frames:
            self.reason = "reader.max_frames"
        if self.reason is None and self.max_seconds is not None and time.perf_counter() - self.began >= self.max_seconds:
            self.reason = "reader.max_seconds"
        return self.reason is not None

    def _handle(self, number: int, frame: Any) -> None:
        if number == signal.SIGINT and self.reason == "SIGINT":
            raise KeyboardInterrupt
        self.reason = signal.Signals(number).name
        log.info("%s: stopping after the frame being segmented", self.reason)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class LiveOverlay:
    """``overlay.mp4`` written frame by frame (into ``overlay.partial.mp4``, renamed when closed)."""

    def __init__(self, path: Path, fps: float) -> None:
        import framepump

        self.path, self.partial = path, path.with_name(path.stem + ".partial" + path.suffix)
        self._writer = framepump.VideoWriter(self.partial, fps=fps)

    def append(self, image: np.ndarray, labels: np.ndarray) -> None:
        self._writer.append_data(even_frame(overlay(image, labels)))

    def close(self) -> Path:
        self._writer.close()
        os.replace(self.partial, self.path)
        return self.path


def segment_live(cfg: DictConfig) -> Dict[str, Any]:
    """Segment the live source ``cfg.video`` into ``cfg.output_dir`` (``masks.rle.jsonl``, PNGs with
    ``outputs.png``, ``overlay.mp4`` with ``outputs.overlay``)."""
    check_live_settings(cfg)
    device = resolve_device(cfg.device)
    checkpoint = find_checkpoint(cfg.model.get("checkpoint"), cfg.paths.log_dir)
    OmegaConf.update(cfg, "model.checkpoint", checkpoint, force_add=True)
    out = Path(cfg.output_dir)
    with folder_lock(out):  # one writer: another run into out is refused, naming it
        _refuse_resume(out, cfg.resume)
        config = _run_config(cfg, checkpoint)
        inference = inference_settings(cfg.inference)
        segmenter = build_segmenter(build_network(cfg.model), cfg.memory, inference, device)  # before frames queue up
        reader = cfg.reader
        source = LiveVideo(str(cfg.video), reader.shorter_side, reader.resize, parse_frame_size(reader.size),
                           reader.queue_frames, reader.drop_late)
        try:
            OmegaConf.update(cfg, "init.frame", 0)
            first = source.first_frame_view()
            annotations = initial_annotations(cfg.init, first, str(device))
            if cfg.outputs.png:
                _check_png_ids(object_ids(annotations))
            _claim_output_dir(out, config, resume=False)
            record_hydra_config(out, cfg)
            given = given_masks_at_original_size(cfg.init, annotations, first) if inference.write_given_masks else {}
            with StopRequest(reader.max_frames, reader.max_seconds) as stop:
                result = _segment(cfg, source, segmenter, annotations, given, out, stop)
        finally:
            source.close()
    print("\n".join(f"{k}: {v}" for k, v in result.items()))
    return result


def _segment(cfg: DictConfig, source: LiveVideo, segmenter, annotations, given, out: Path,
             stop: StopRequest) -> Dict[str, Any]:
    """The frame loop: segment, write and flush each frame as it comes; close the outputs however it ends."""
    size = tuple(source.original_size)
    png_dir = out / "masks" if cfg.outputs.png else None
    video = LiveOverlay(out / "overlay.mp4", source.fps or DEFAULT_OVERLAY_FPS) if cfg.outputs.overlay else None
    masks = LiveRLEWriter(out / "masks.rle.jsonl", size[0], size[1], object_ids(annotations), fps=source.fps,
                          source=str(cfg.video), extra={"given_frames": [0]})
    sync: Optional[Callable[[], None]] = torch.cuda.synchronize if segmenter.device.type == "cuda" else None
    latencies = array("d")  # 8 bytes a frame: a day at 30 fps is 21 MB
    stream_frames = array("q") if source.drop_late else None
    compute = 0.0
    began = time.perf_counter()
    try:
        with tqdm(desc=str(cfg.video), unit="frame") as bar:
            for frame in source.frames(stop):
                index = masks.frames
                visit = live_visit(index, segmenter.mem_every, segmenter.has_ring)
                started = time.perf_counter()
                prediction = run_visit(segmenter, visit, source.for_segmenter(frame.image), annotations)
                if sync is not None:
                    sync()
                step = Step(index, visit, prediction, time.perf_counter() - started)
                compute += step.seconds
                labels = written_labels(step, size, given)
                masks.write(labels, prediction.confidence())
                if png_dir is not None:
                    write_label_png(png_dir / f"{index:06d}.png", labels)
                latencies.append(time.perf_counter() - frame.arrival)
                if stream_frames is not None:
                    stream_frames.append(frame.stream_index)
                if video is not None:
                    video.append(frame.image, labels)
                bar.update()
                if stop(masks.frames):
                    break
    finally:
        extra: Dict[str, Any] = {"dropped_frames": source.dropped}
        if source.dropped:
            extra["stream_frames"] = stream_frames.tolist()
        rle_path = masks.close(extra)
        overlay_path = video.close() if video is not None else None
    wall = time.perf_counter() - began
    result: Dict[str, Any] = {"frames": masks.frames, "masks": str(rle_path), "stopped_by": stop.reason or "end of stream"}
    if png_dir is not None:
        result["png"] = str(png_dir)
    if overlay_path is not None:
        result["overlay"] = str(overlay_path)
    result.update(latency_report(latencies, masks.frames, wall, compute))
    result.update(dropped_frames=source.dropped, kept_up=source.dropped == 0 and source.full_waits == 0)
    if not result["kept_up"]:
        log.warning("the segmenter did not keep up with %s: %s; latency up to %.0f ms", cfg.video,
                    f"{source.dropped} frame(s) dropped (reader.drop_late=true)" if source.dropped else
                    f"frames waited in the full queue of {cfg.reader.queue_frames} (reader.drop_late=true drops late "
                    "frames instead)", result["latency_ms_max"])
    return result


def latency_report(latencies: Sequence[float], frames: int, wall: float, compute: float) -> Dict[str, Any]:
    """Latency from arrival to flushed line (median, p95, max, in ms) beside the frame rate (frames per wall
    second of the run) and the compute frame rate."""
    ms = np.asarray(latencies, dtype=float) * 1000.0
    report = {"fps": round(frames / wall, 2) if wall > 0 else None,
              "compute_fps": round(frames / compute, 2) if compute > 0 else None,
              "wall_seconds": round(wall, 2)}
    if len(ms):
        report.update(latency_ms_median=round(float(np.median(ms)), 1),
                      latency_ms_p95=round(float(np.percentile(ms, 95)), 1), latency_ms_max=round(float(ms.max()), 1))
    else:
        report.update(latency_ms_median=None, latency_ms_p95=None, latency_ms_max=None)
    return report


__all__ = ["LiveOverlay", "StopRequest", "check_live_settings", "latency_report", "segment_live"]
