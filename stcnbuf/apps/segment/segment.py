"""The video segmentation application behind ``python -m stcnbuf.apps.segment``."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from stcnbuf.apps.segment.initial import (Annotations, given_masks_at_original_size, initial_annotations, initial_frames,
                                          initial_mask_files, object_ids)
from stcnbuf.apps.segment.postprocess import postprocess_file
from stcnbuf.apps.segment.render import render_overlay
from stcnbuf.apps.segment.reuse import find_reuse
from stcnbuf.datasets.live import is_live_video
from stcnbuf.apps.segment.review import confidence_outputs
from stcnbuf.datasets.video import VideoSource
from stcnbuf.engine.build import build_network, build_plan, build_segmenter, resolve_device
from stcnbuf.engine.checkpoint import file_sha256, find_checkpoint
from stcnbuf.engine.labels import VOID_LABEL
from stcnbuf.engine.plan import Plan
from stcnbuf.engine.prefix import annotation_digest, prefix_digests
from stcnbuf.engine.runner import RunStats, run_plan, written_labels
from stcnbuf.engine.segmenter import Segmenter
from stcnbuf.engine.settings import InferenceSettings, inference_settings
from stcnbuf.io.atomic import remove_leftovers
from stcnbuf.io.masks import write_label_png
from stcnbuf.io.rle import RLEWriter, complete_rle_file, partial_path, read_rle_file
from stcnbuf.io.within import remove
from stcnbuf.runs import MadeFrom, SnapshotStore, claim_folder, fingerprint
from stcnbuf.runs.hydra_files import record_hydra_config
from stcnbuf.runs.inputs import file_stamps
from stcnbuf.runs.lock import folder_lock

log = logging.getLogger(__name__)


def _run_config(cfg: DictConfig, source: VideoSource, checkpoint: str) -> Dict[str, Any]:
    """What determines the masks besides the initial masks: the video and its files, reader, model, memory,
    inference, how the initial masks are made (their frames and contents are in the plan-prefix digests of the
    snapshots, so a rerun with one more or one changed mask keeps what they do not change)."""
    config = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("reader", "init", "memory", "inference")}
    for key in ("frame", "mask"):
        config["init"].pop(key, None)
    init_files = [Path(m).expanduser() for m in initial_mask_files(cfg.init)]
    for path in init_files:
        if not path.is_file():
            raise FileNotFoundError(f"init.mask: {path} not found (give the initial mask file of the video)")
    config.update(video=str(source.path.resolve()), checkpoint_sha256=file_sha256(checkpoint), device=str(cfg.device),
                  inputs={"video": file_stamps(source.files if source.is_folder else [source.path])})
    return config


def _claim_output_dir(out: Path, config: Dict[str, Any], resume: bool) -> None:
    """Record ``config`` in ``out/segment.json``; results of another configuration are refused when resuming,
    and whatever a run cannot continue from (another configuration, or ``resume=false``) is removed first, as
    are temporary files of a killed run."""
    out.mkdir(parents=True, exist_ok=True)

    def discard(same: bool) -> None:
        if not (same and resume):
            for stale in (out / "masks.rle.jsonl", partial_path(out / "masks.rle.jsonl"), out / "state.pt",
                          _plan_marker(out).path):
                stale.unlink(missing_ok=True)
            SnapshotStore(out / "snapshots").remove()
            remove(out / "masks")  # PNGs, with the record of what they show (a link: only the link)

    claim_folder(out / "segment.json", config, keep=resume, fix="use another output_dir, or resume=false to start over",
                 discard=discard)
    for folder in (out, out / "masks", out / "snapshots"):
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
    if is_live_video(cfg.video):  # a camera, a network stream, standard input
        from stcnbuf.apps.segment.live import segment_live

        return segment_live(cfg)
    device = resolve_device(cfg.device)
    checkpoint = find_checkpoint(cfg.model.get("checkpoint"), cfg.paths.log_dir)
    OmegaConf.update(cfg, "model.checkpoint", checkpoint, force_add=True)
    reader = cfg.reader
    source = VideoSource(cfg.video, reader.shorter_side, reader.constant_fps, reader.start, reader.stop, reader.step,
                         reader.resize)
    _take_init_frame(cfg, len(source))
    out = Path(cfg.output_dir)
    config = _run_config(cfg, source, checkpoint)
    built = _build(cfg, source, str(device))  # every setting checked before the folder is claimed
    with folder_lock(out):
        return _segment_into(cfg, source, out, config, built)


def _segment_into(cfg: DictConfig, source: VideoSource, out: Path, config: Dict[str, Any], built: _Built
                  ) -> Dict[str, Any]:
    """The part of :func:`segment_video` that writes into ``out`` (its only writer)."""
    _claim_output_dir(out, config, cfg.resume)
    record_hydra_config(out, cfg)
    stamp = fingerprint(config)
    rle_path = out / "masks.rle.jsonl"
    result: Dict[str, Any] = {"frames": len(source), "masks": str(rle_path)}
    result.update(_segment(cfg, source, out, rle_path, stamp, built))
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
        if not (cfg.resume and marker.matches(made_from, [overlay.name])):
            with tqdm(total=len(source), desc="overlay", unit="frame", leave=False) as bar:
                render_overlay(rle, source, overlay, progress=bar.update, marks=marks)
            marker.write(made_from, [overlay.name])
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
    if not (resume and marker.matches(made_from, [clean.name])):
        postprocess_file(raw, clean, **options)
        marker.write(made_from, [clean.name])
    return clean


def _plan_marker(out: Path) -> MadeFrom:
    """Records the digest of the whole plan (settings, video, every mask) that a complete masks file shows, and
    that file's size and hash."""
    return MadeFrom(out / "masks.rle.jsonl.plan")


@dataclass
class _Built:
    """What a run segments with, built and checked before it claims its folder."""

    annotations: Annotations
    inference: InferenceSettings
    given: Dict[int, np.ndarray]
    segmenter: Segmenter
    plan: Plan


def _build(cfg: DictConfig, source: VideoSource, device: str) -> _Built:
    """The initial masks, settings, segmenter and plan of ``cfg``; a bad one raises before anything is written."""
    annotations = initial_annotations(cfg.init, source, device)
    if cfg.outputs.png:
        _check_png_ids(object_ids(annotations))
    inference = inference_settings(cfg.inference)
    given = given_masks_at_original_size(cfg.init, annotations, source) if inference.write_given_masks else {}
    segmenter = build_segmenter(build_network(cfg.model), cfg.memory, inference, device)
    plan = build_plan(inference, segmenter, len(source), sorted(annotations), initial_frames(cfg.init, len(source))[0])
    return _Built(annotations, inference, given, segmenter, plan)


def _segment(cfg: DictConfig, source: VideoSource, out: Path, rle_path: Path, stamp: str, built: _Built
             ) -> Dict[str, Any]:
    """Run the plan of ``cfg.inference`` over the video, writing each output frame once into the RLE file (and
    PNGs). Snapshots every ``cfg.snapshot_every`` visits (``cfg.snapshot_keep`` of them kept) let a rerun continue
    where an interrupted one was, or, given one more or one changed mask, from before the first visit the change
    affects: the frames before are kept and the file equals that of a run given all the masks at once. A masks
    file counts as complete when it holds every frame and records the digest of this run's whole plan."""
    annotations, inference, given, segmenter, plan = (built.annotations, built.inference, built.given,
                                                      built.segmenter, built.plan)
    digests = prefix_digests(plan, {f: annotation_digest(a, given.get(f)) for f, a in annotations.items()}, stamp)
    marker = _plan_marker(out)
    recorded = marker.read()
    altered = recorded is not None and bool(marker.damaged([rle_path.name]))  # since a run completed it
    if cfg.resume and altered:
        log.warning("%s changed since the run that wrote it: none of its frames is reused", rle_path)
    elif cfg.resume and recorded == digests[-1]:
        if complete_rle_file(rle_path, len(source)):
            log.info("%s is complete: segmentation skipped", rle_path)
            return {"frames_reused": len(plan.outputs), "frames_recomputed": 0}
        log.warning("%s lacks frames or cannot be read: segmenting the video again", rle_path)
    frames = source.frame_source(inference.frame_cache_mb)
    snapshots = SnapshotStore(out / "snapshots", cfg.snapshot_every, cfg.snapshot_keep)
    reuse = find_reuse(snapshots, digests, plan, rle_path) if cfg.resume and not altered else None
    snapshots.drop_after(reuse.position - 1 if reuse else -1)
    marker.path.unlink(missing_ok=True)
    rle_path.unlink(missing_ok=True)  # read into ``reuse``; the rebuilt file replaces it when complete
    size = tuple(source.original_size)
    png_dir = out / "masks" if cfg.outputs.png else None
    if png_dir is not None:  # every PNG is (re)written below
        MadeFrom(png_dir / ".masks.sha256").path.unlink(missing_ok=True)
    stats, began = RunStats(), time.perf_counter()
    with RLEWriter(rle_path, size[0], size[1], len(source), object_ids(annotations), fps=source.fps,
                   source=str(source.path), extra={"given_frames": sorted(annotations)}) as masks:

        def write(index: int, labels: np.ndarray, confidence: Dict[int, float] | None = None) -> None:
            masks.write(index, labels, confidence)
            if png_dir is not None:
                write_label_png(png_dir / f"{source.frame_name(index)}.png", labels)

        for index in plan.uncovered():
            write(index, np.zeros(size, np.uint8))
        start = 0
        if reuse is not None and reuse.position:
            for index, objects in reuse.kept.items():
                masks.write_masks(index, objects, reuse.previous.confidence.get(index))
                if png_dir is not None:
                    write_label_png(png_dir / f"{source.frame_name(index)}.png", reuse.label_map(index))
            segmenter.load_state_dict(reuse.state)
            start = reuse.position
        with tqdm(total=len(plan), initial=start, desc=source.path.name, unit="frame") as bar:
            for step in run_plan(segmenter, plan, frames, annotations, start):
                stats.add(step)
                if step.visit.output:
                    write(step.visit.frame, written_labels(step, size, given), step.prediction.confidence())
                if snapshots.due(step.position):
                    snapshots.save(step.position, digests[step.position], segmenter.state_dict())
                bar.update()
    marker.write(digests[-1], [rle_path.name])
    return {"segmented_frames": stats.segmented, "burn_in_frames": stats.burn_in,
            "frames_reused": len(reuse.kept) if reuse else 0, "frames_recomputed": stats.outputs,
            "seconds": round(stats.seconds, 2), "wall_seconds": round(time.perf_counter() - began, 2),
            "fps": round(stats.fps or 0.0, 2)}


def _check_png_ids(ids: List[int]) -> None:
    """PNG label maps hold ids 1..254 (255 is void): refuse others before anything is segmented."""
    above = [i for i in ids if i >= VOID_LABEL]
    if above:
        raise ValueError(f"object id(s) {above} cannot be written as PNG label maps (ids 1..{VOID_LABEL - 1}; "
                         f"{VOID_LABEL} is void): set outputs.png=false (masks.rle.jsonl keeps every id) or renumber "
                         "the objects of the initial mask")


def _write_pngs(rle, source: VideoSource, folder: Path, digest: str, live: bool) -> Path:
    """Palette PNGs of every frame. PNGs already there are kept when they show these masks: written from the
    same file before and unchanged since (``.masks.sha256`` records the file and each PNG's size and hash)
    or, with ``live``, written (atomically) while segmenting."""
    marker = MadeFrom(folder / ".masks.sha256")
    names = [f"{source.frame_name(index)}.png" for index in range(rle.num_frames)]
    recorded = marker.read()
    if recorded == digest:
        redo = set(marker.damaged(names))
    elif recorded is None and live:
        redo = {name for name in names if not (folder / name).is_file()}
    else:
        redo = set(names)
    for index, name in enumerate(names):
        if name in redo:
            write_label_png(folder / name, rle.label_map(index))
    folder.mkdir(parents=True, exist_ok=True)
    marker.write(digest, names, unchanged=[n for n in names if n not in redo] if recorded == digest else ())
    return folder
