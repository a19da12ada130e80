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
from stcnbuf.postprocess import postprocess_file
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
    if cfg.inference.get("init_frame") is not None:
        if cfg.init.get("frame") is not None and cfg.init.frame != cfg.inference.init_frame:
            raise ValueError(f"init.frame={cfg.init.frame} and inference.init_frame={cfg.inference.init_frame} "
                             "disagree: give the initial frame once, as init.frame")
        OmegaConf.update(cfg, "init.frame", cfg.inference.init_frame, force_add=True)
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
    shown = _postprocess(cfg.postprocess, rle_path, out / "masks.clean.rle.jsonl", cfg.resume)
    if shown != rle_path:
        result["clean_masks"] = str(shown)
    rle, digest = read_rle_file(shown), file_sha256(shown)
    if cfg.outputs.png:
        result["png"] = str(_write_pngs(rle, source, out / "masks", digest, live=shown == rle_path))
    if cfg.outputs.overlay:
        overlay = out / "overlay.mp4"
        marker = out / "overlay.mp4.sha256"
        if not (cfg.resume and overlay.is_file() and _read_marker(marker) == digest):
            with tqdm(total=len(source), desc="overlay", unit="frame", leave=False) as bar:
                render_overlay(rle, source, overlay, progress=bar.update)
            atomic_write_text(marker, digest)
        result["overlay"] = str(overlay)
    print("\n".join(f"{k}: {v}" for k, v in result.items()))
    return result


def _postprocess(settings: DictConfig, raw: Path, clean: Path, resume: bool) -> Path:
    """Write the cleaned masks when any clean-up is asked for; returns the file to show."""
    options = dict(close_radius=int(settings.close), keep_largest=bool(settings.largest_component),
                   fill_holes_area=int(settings.fill_holes), box_margin=settings.box_margin,
                   temporal_window=int(settings.temporal_window))
    if not any(value for value in options.values() if value is not None):
        return raw
    made_from = {**options, "masks_sha256": file_sha256(raw)}
    marker = clean.with_name(clean.name + ".json")
    if not (resume and clean.is_file() and _read_marker(marker) == json.dumps(made_from, sort_keys=True)):
        postprocess_file(raw, clean, **options)
        atomic_write_text(marker, json.dumps(made_from, sort_keys=True))
    return clean


def _read_marker(path: Path) -> str | None:
    """What an output was made from (see the ``*.sha256`` / ``*.json`` files beside outputs), if recorded."""
    return path.read_text() if path.is_file() else None


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
            snapshots = SnapshotFile(out / "state.pt", stamp) if cfg.resume else None
            if offline:
                segmented = segment_offline(source, segmenter, annotations, write, cfg.frame_cache_mb, snapshots,
                                            cfg.snapshot_every, bar.update)
            else:
                segmented = segment_online(source, segmenter, annotations, write, snapshots, cfg.snapshot_every,
                                           bar.update)
        seconds = time.perf_counter() - start
    (out / "state.pt").unlink(missing_ok=True)
    return {"segmented_frames": segmented, "seconds": round(seconds, 2), "fps": round(segmented / seconds, 2)}


def _write_pngs(rle, source: VideoSource, folder: Path, digest: str, live: bool) -> Path:
    """Palette PNGs of every frame. PNGs already there are kept when they show these masks: written from
    the same file before (recorded in ``.masks.sha256``) or, with ``live``, while segmenting."""
    marker = folder / ".masks.sha256"
    recorded = _read_marker(marker)
    keep = recorded == digest or (recorded is None and live)
    for index in range(rle.num_frames):
        path = folder / f"{source.frame_name(index)}.png"
        if not (keep and path.is_file()):
            write_label_png(path, rle.label_map(index))
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, digest)
    return folder
