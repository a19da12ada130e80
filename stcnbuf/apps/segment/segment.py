"""The video segmentation application behind ``python -m stcnbuf.apps.segment``."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from stcnbuf.apps.segment.initial import given_masks_at_original_size, initial_annotations, initial_mask_files, object_ids
from stcnbuf.apps.segment.postprocess import postprocess_file
from stcnbuf.apps.segment.render import render_overlay
from stcnbuf.apps.segment.review import confidence_outputs
from stcnbuf.datasets.video import VideoSource
from stcnbuf.engine.build import build_network, build_plan, build_segmenter, resolve_device
from stcnbuf.engine.checkpoint import file_sha256, find_checkpoint
from stcnbuf.engine.labels import VOID_LABEL
from stcnbuf.engine.runner import RunStats, run_plan, written_labels
from stcnbuf.engine.settings import inference_settings
from stcnbuf.io.atomic import remove_leftovers
from stcnbuf.io.masks import write_label_png
from stcnbuf.io.rle import RLEWriter, partial_path, read_rle_file
from stcnbuf.runs import MadeFrom, Snapshot, SnapshotFile, claim_folder, fingerprint
from stcnbuf.runs.hydra_files import record_hydra_config
from stcnbuf.runs.inputs import content_digests, file_stamps

log = logging.getLogger(__name__)


def _run_config(cfg: DictConfig, source: VideoSource, checkpoint: str) -> Dict[str, Any]:
    """What determines the masks: the video and its files, reader, initial masks (their contents), model,
    memory, inference."""
    config = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("reader", "init", "memory", "inference")}
    init_files = [Path(m).expanduser() for m in initial_mask_files(cfg.init)]
    for path in init_files:
        if not path.is_file():
            raise FileNotFoundError(f"init.mask: {path} not found (give the initial mask file of the video)")
    config.update(video=str(source.path.resolve()), checkpoint_sha256=file_sha256(checkpoint), device=str(cfg.device),
                  inputs={"video": file_stamps(source.files if source.is_folder else [source.path]),
                          "init_masks": content_digests(init_files)})
    return config


def _claim_output_dir(out: Path, config: Dict[str, Any], resume: bool) -> None:
    """Record ``config`` in ``out/segment.json``; results of another configuration are refused when resuming,
    and whatever a run cannot continue from (another configuration, or ``resume=false``) is removed first, as
    are temporary files of a killed run."""
    out.mkdir(parents=True, exist_ok=True)

    def discard(same: bool) -> None:
        if not (same and resume):
            for stale in (out / "masks.rle.jsonl", partial_path(out / "masks.rle.jsonl"), out / "state.pt"):
                stale.unlink(missing_ok=True)
            shutil.rmtree(out / "masks", ignore_errors=True)  # PNGs, with the record of what they show

    claim_folder(out / "segment.json", config, keep=resume, fix="use another output_dir, or resume=false to start over",
                 discard=discard)
    for folder in (out, out / "masks"):
        remove_leftovers(folder)


def _take_init_frame(cfg: DictConfig, num_frames: int) -> None:
    """``inference.init_frame`` (offline: a frame or ``middle``) becomes ``init.frame``, where the initial masks are
    read; the two may not disagree."""
    init_frame = getattr(inference_settings(cfg.inference), "init_frame", None)
    if init_frame is None:
        return
    init_frame = num_frames // 2 if init_frame == "middle" else int(init_frame)
    if cfg.init.frame is not None and cfg.init.frame != init_frame:
        raise ValueError(f"init.frame={cfg.init.frame} and inference.init_frame={cfg.inference.init_frame} "
                         "disagree: give the initial frame once, as init.frame")
    OmegaConf.update(cfg, "init.frame", init_frame)


def segment_video(cfg: DictConfig) -> Dict[str, Any]:
    """Segment ``cfg.video``; write ``masks.rle.jsonl`` and the requested outputs into ``cfg.output_dir``."""
    device = resolve_device(cfg.device)
    checkpoint = find_checkpoint(cfg.model.get("checkpoint"), cfg.paths.log_dir)
    OmegaConf.update(cfg, "model.checkpoint", checkpoint, force_add=True)
    reader = cfg.reader
    source = VideoSource(cfg.video, reader.shorter_side, reader.constant_fps, reader.start, reader.stop, reader.step,
                         reader.resize)
    _take_init_frame(cfg, len(source))
    out = Path(cfg.output_dir)
    config = _run_config(cfg, source, checkpoint)
    _claim_output_dir(out, config, cfg.resume)
    record_hydra_config(out, cfg)
    stamp = fingerprint(config)
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
    written, marks = confidence_outputs(rle, out, cfg.outputs.review, cfg.outputs.review_below,
                                        cfg.outputs.review_merge_gap)
    result.update(written)
    if cfg.outputs.png:
        _check_png_ids(rle.object_ids)
        result["png"] = str(_write_pngs(rle, source, out / "masks", digest, live=shown == rle_path))
    if cfg.outputs.overlay:
        overlay = out / "overlay.mp4"
        marker = MadeFrom(out / "overlay.mp4.sha256")
        made_from = digest + (f" marks {fingerprint(marks)}" if marks else "")
        if not (cfg.resume and overlay.is_file() and marker.matches(made_from)):
            with tqdm(total=len(source), desc="overlay", unit="frame", leave=False) as bar:
                render_overlay(rle, source, overlay, progress=bar.update, marks=marks)
            marker.write(made_from)
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
    made_from = json.dumps({**options, "masks_sha256": file_sha256(raw)}, sort_keys=True)
    marker = MadeFrom(clean.with_name(clean.name + ".json"))
    if not (resume and clean.is_file() and marker.matches(made_from)):
        postprocess_file(raw, clean, **options)
        marker.write(made_from)
    return clean


def _segment(cfg: DictConfig, source: VideoSource, out: Path, rle_path: Path, stamp: str, device: str) -> Dict[str, Any]:
    """Run the plan of ``cfg.inference`` over the video, writing each output frame once into the RLE file (and
    PNGs); snapshots every ``cfg.snapshot_every`` visits let an interrupted run continue where it was."""
    annotations = initial_annotations(cfg.init, source, device)
    if cfg.outputs.png:
        _check_png_ids(object_ids(annotations))
    inference = inference_settings(cfg.inference)
    given = given_masks_at_original_size(cfg.init, annotations, source) if inference.write_given_masks else {}
    segmenter = build_segmenter(build_network(cfg.model), cfg.memory, inference, device)
    plan = build_plan(inference, segmenter, len(source), sorted(annotations))
    frames = source.frame_source(inference.frame_cache_mb)
    snapshots = SnapshotFile(out / "state.pt", stamp, cfg.snapshot_every)
    size = tuple(source.original_size)
    png_dir = out / "masks" if cfg.outputs.png else None
    stats, began = RunStats(), time.perf_counter()
    with RLEWriter(rle_path, size[0], size[1], len(source), object_ids(annotations), fps=source.fps,
                   source=str(source.path), extra={"given_frames": sorted(annotations)}, resume=cfg.resume) as masks:
        start = _resume_position(snapshots if cfg.resume else None, segmenter, plan, masks.done)

        def write(index: int, labels: np.ndarray, confidence: Dict[int, float] | None = None) -> None:
            if index in masks.done:  # written before an interruption
                return
            masks.write(index, labels, confidence)
            if png_dir is not None:
                write_label_png(png_dir / f"{source.frame_name(index)}.png", labels)

        for index in plan.uncovered():
            write(index, np.zeros(size, np.uint8))
        with tqdm(total=len(plan), initial=start, desc=source.path.name, unit="frame") as bar:
            for step in run_plan(segmenter, plan, frames, annotations, start):
                stats.add(step)
                if step.visit.output:
                    write(step.visit.frame, written_labels(step, size, given), step.prediction.confidence())
                if snapshots.due(step.position):
                    snapshots.save(Snapshot(step.position, segmenter.state_dict()))
                bar.update()
    snapshots.remove()
    return {"segmented_frames": stats.segmented, "burn_in_frames": stats.burn_in,
            "seconds": round(stats.seconds, 2), "wall_seconds": round(time.perf_counter() - began, 2),
            "fps": round(stats.fps or 0.0, 2)}


def _check_png_ids(ids: List[int]) -> None:
    """PNG label maps hold ids 1..254 (255 is void): refuse others before anything is segmented."""
    above = [i for i in ids if i >= VOID_LABEL]
    if above:
        raise ValueError(f"object id(s) {above} cannot be written as PNG label maps (ids 1..{VOID_LABEL - 1}; "
                         f"{VOID_LABEL} is void): set outputs.png=false (masks.rle.jsonl keeps every id) or renumber "
                         "the objects of the initial mask")


def _resume_position(snapshots: SnapshotFile | None, segmenter, plan, written: set) -> int:
    """The plan position to continue from: after the latest snapshot of this run when every output before it
    is in the masks file, else 0 (the segmenter's state is loaded accordingly)."""
    snapshot = snapshots.load() if snapshots is not None else None
    if snapshot is None:
        return 0
    before = {v.frame for v in plan.visits[:snapshot.position + 1] if v.output}
    if not before <= written:
        log.warning("the snapshot %s is ahead of the masks file: segmenting from the start", snapshots.path)
        return 0
    segmenter.load_state_dict(snapshot.state)
    log.info("resuming after visit %d of %d (frame %d)", snapshot.position + 1, len(plan),
             plan[snapshot.position].frame)
    return snapshot.position + 1


def _write_pngs(rle, source: VideoSource, folder: Path, digest: str, live: bool) -> Path:
    """Palette PNGs of every frame. PNGs already there are kept when they show these masks: written from
    the same file before (recorded in ``.masks.sha256``) or, with ``live``, while segmenting."""
    marker = MadeFrom(folder / ".masks.sha256")
    recorded = marker.read()
    keep = recorded == digest or (recorded is None and live)
    for index in range(rle.num_frames):
        path = folder / f"{source.frame_name(index)}.png"
        if not (keep and path.is_file()):
            write_label_png(path, rle.label_map(index))
    folder.mkdir(parents=True, exist_ok=True)
    marker.write(digest)
    return folder
