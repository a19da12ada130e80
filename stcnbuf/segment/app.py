"""The video segmentation application behind ``python -m stcnbuf.segment``."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from stcnbuf.build import build_network, build_offline, build_online
from stcnbuf.checkpoint import file_sha256
from stcnbuf.data.video import VideoSource
from stcnbuf.evaluation.app import find_checkpoint, resolve_device
from stcnbuf.evaluation.run_directory import config_differences, fingerprint
from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.io.masks import write_label_png
from stcnbuf.io.rle import RLEWriter, read_rle_file
from stcnbuf.segment.initial import given_masks_at_original_size, initial_annotations
from stcnbuf.segment.render import render_overlay
from stcnbuf.segment.run import SnapshotFile, object_ids, segment_offline, segment_online

log = logging.getLogger(__name__)


def _run_config(cfg: DictConfig, checkpoint: str) -> Dict[str, Any]:
    """What determines the masks: the video, reader, initial masks, model, memory, inference."""
    video = Path(cfg.video).expanduser()
    config = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("reader", "init", "memory", "inference")}
    config.update(video=str(video.resolve()), video_size=video.stat().st_size if video.is_file() else None,
                  checkpoint_sha256=file_sha256(checkpoint), device=str(cfg.device))
    return config


def _check_output_dir(out: Path, config: Dict[str, Any], resume: bool) -> str:
    """Refuse to mix results of another configuration into ``out``; returns the configuration fingerprint."""
    record = out / "segment.json"
    stamp = fingerprint(config)
    if record.is_file() and resume:
        previous = json.loads(record.read_text())
        if previous.get("fingerprint") != stamp:
            changes = config_differences(previous.get("config", {}), config)
            raise ValueError(f"{out} holds masks of another configuration ({'; '.join(changes[:6])}): use another "
                             "output_dir, or resume=false to start over")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps({"fingerprint": stamp, "config": config}, indent=1, default=str))
    return stamp


def segment_video(cfg: DictConfig) -> Dict[str, Any]:
    """Segment ``cfg.video``; write ``masks.rle.jsonl`` and the requested outputs into ``cfg.output_dir``."""
    device = resolve_device(cfg.device)
    checkpoint = find_checkpoint(cfg)
    OmegaConf.update(cfg, "model.checkpoint", checkpoint, force_add=True)
    reader = cfg.reader
    source = VideoSource(cfg.video, reader.shorter_side, reader.constant_fps, reader.start, reader.stop, reader.step)
    out = Path(cfg.output_dir)
    config = _run_config(cfg, checkpoint)
    stamp = _check_output_dir(out, config, cfg.resume)
    rle_path = out / "masks.rle.jsonl"
    result: Dict[str, Any] = {"frames": len(source), "masks": str(rle_path)}
    if not (cfg.resume and rle_path.is_file()):
        result.update(_segment(cfg, source, out, rle_path, stamp, str(device)))
    else:
        log.info("%s is complete: segmentation skipped", rle_path)
    rle = read_rle_file(rle_path)
    if cfg.outputs.png:
        result["png"] = str(_write_pngs(rle, source, out / "masks"))
    if cfg.outputs.overlay:
        overlay = out / "overlay.mp4"
        if not (cfg.resume and overlay.is_file() and overlay.stat().st_mtime >= rle_path.stat().st_mtime):
            with tqdm(total=len(source), desc="overlay", unit="frame", leave=False) as bar:
                render_overlay(rle, source, overlay, progress=bar.update)
        result["overlay"] = str(overlay)
    print("\n".join(f"{k}: {v}" for k, v in result.items()))
    return result


def _segment(cfg: DictConfig, source: VideoSource, out: Path, rle_path: Path, stamp: str, device: str) -> Dict[str, Any]:
    annotations = initial_annotations(cfg.init, source, device)
    net = build_network(cfg.model)
    offline = cfg.inference.mode == "offline"
    segmenter = (build_offline if offline else build_online)(net, cfg.memory, cfg.inference, device)
    h, w = source.original_size
    png_dir = out / "masks" if cfg.outputs.png else None
    with RLEWriter(rle_path, h, w, len(source), object_ids(annotations), fps=source.fps, source=str(source.path),
                   resume=cfg.resume) as masks:
        given = given_masks_at_original_size(cfg.init, annotations, source)
        first = min(given)

        def write(index: int, labels) -> None:
            if index == first:  # the first initial frame keeps its masks as given
                labels = given[index]
            elif index in given:  # later initial frames: the given objects over the others' predictions
                labels = np.where(given[index] > 0, given[index], labels).astype(labels.dtype)
            masks.write(index, labels)
            if png_dir is not None:
                write_label_png(png_dir / f"{source.frame_name(index)}.png", labels)

        total = segmenter.frames_to_segment(len(source)) if offline else len(source)
        start = time.perf_counter()
        with tqdm(total=total, desc=source.path.name, unit="frame") as bar:
            if offline:
                segmented = segment_offline(source, segmenter, annotations, write, cfg.frame_cache_mb, bar.update)
            else:
                snapshots = SnapshotFile(out / "state.pt", stamp) if cfg.resume else None
                segmented = segment_online(source, segmenter, annotations, write, snapshots, cfg.snapshot_every,
                                           bar.update)
        seconds = time.perf_counter() - start
    (out / "state.pt").unlink(missing_ok=True)
    return {"segmented_frames": segmented, "seconds": round(seconds, 2), "fps": round(segmented / seconds, 2)}


def _write_pngs(rle, source: VideoSource, folder: Path) -> Path:
    """Palette PNGs of every frame (those already there are kept)."""
    for index in range(rle.num_frames):
        path = folder / f"{source.frame_name(index)}.png"
        if not path.is_file():
            write_label_png(path, rle.label_map(index))
    return folder
