"""Many videos in one command: ``video=`` a folder of video files, a glob, or a ``.txt`` list of them.

Each video is segmented into ``<output_dir>/<video stem>/`` exactly as a single run would (and resumes there);
with ``init=mask``, ``init.mask`` is a folder holding ``<video stem>.png`` (or ``.json`` / ``.rle.jsonl``) per
video. ``shard=I/N`` takes every N-th video, for jobs that share ``output_dir``. One failing video does not
stop the others; ``videos.json`` (or ``shards/I-of-N/videos.json``) lists each video's result or error.
"""

from __future__ import annotations

import copy
import glob
import json
import logging
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from omegaconf import DictConfig
from tqdm import tqdm

from stcnbuf.datasets.base import unsafe_names
from stcnbuf.datasets.live import is_live_video
from stcnbuf.datasets.sequence import IMAGE_SUFFIXES
from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.runs.lock import run_lock
from stcnbuf.runs.shards import result_folder, shard_of

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
MASK_SUFFIXES = (".png", ".json", ".rle.jsonl")


def video_list(spec: str) -> Optional[List[Path]]:
    """The videos ``video=spec`` names when it names several (sorted), else ``None`` (one video: a file, or a
    folder of frames). Several: a folder of video files, a glob such as ``clips/*.mp4``, or a ``.txt`` file with
    one path per line (relative to the list; ``#`` comments)."""
    if is_live_video(spec):  # a camera, a network stream, standard input: one live source
        return None
    path = Path(spec).expanduser()
    if any(c in spec for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(path)))
        if not found:
            raise FileNotFoundError(f"video={spec}: the pattern matches no file")
        return found
    if path.suffix.lower() == ".txt" and path.is_file():
        lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
        videos = [path.parent / Path(line).expanduser() for line in lines if line]
        missing = [str(v) for v in videos if not v.exists()]
        if missing:
            raise FileNotFoundError(f"{path} lists videos that do not exist: {', '.join(missing[:5])}")
        return videos
    if path.is_dir() and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
        videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise FileNotFoundError(f"video={spec}: a folder without images or video files ({', '.join(VIDEO_SUFFIXES)})")
        return videos
    return None


def _check_names(videos: List[Path]) -> None:
    """Each video's output folder is its stem: a stem that is no plain folder name (``..`` of ``...mp4`` or of a
    listed ``f/..``), or two videos sharing one, are refused."""
    names = [v.stem for v in videos]
    unsafe = sorted({str(v) for v in videos if unsafe_names([v.stem])})
    if unsafe:
        raise ValueError(f"video(s) {unsafe} have names that are not plain folder names (outputs go to "
                         "<output_dir>/<name>/ and would land outside output_dir): rename them")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"several videos are named {twice} (outputs go to <output_dir>/<name>/): rename them or "
                         "segment them in separate runs")


def initial_mask_of(folder: Path, name: str) -> Path:
    """``folder/<name>.png`` (or ``.json``, ``.rle.jsonl``): the initial mask of video ``name``."""
    for suffix in MASK_SUFFIXES:
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    raise FileNotFoundError(f"no initial mask for video {name}: put {folder / (name + '.png')} (or .json, "
                            ".rle.jsonl) there")


def segment_videos(cfg: DictConfig, videos: List[Path], segment: Callable[[DictConfig], Dict[str, Any]]
                   ) -> Dict[str, Any]:
    """Run ``segment`` (the single-video app) on each of ``videos`` (those of ``cfg.shard``), each into its own
    folder; returns and writes the per-video results and errors."""
    out = Path(cfg.output_dir)
    _check_names(videos)
    chosen = shard_of(videos, cfg.get("shard"))
    masks = Path(cfg.init.mask).expanduser() if cfg.init.method == "mask" else None
    if masks is not None and not masks.is_dir():
        raise ValueError(f"init.mask={cfg.init.mask}: for several videos give a folder with <video name>.png per video")
    results: Dict[str, Any] = {}
    failures: Dict[str, str] = {}
    target = result_folder(out, cfg.get("shard")) / "videos.json"
    with run_lock(out, target.parent if cfg.get("shard") else None):  # each video's folder is locked by its run
        for video in tqdm(chosen, desc="videos", unit="video"):
            run = copy.deepcopy(cfg)
            run.video, run.output_dir = str(video), str(out / video.stem)
            try:
                if masks is not None:
                    run.init.mask = str(initial_mask_of(masks, video.stem))
                results[video.stem] = segment(run)
            except Exception as error:  # one broken video must not lose the others
                failures[video.stem] = f"{type(error).__name__}: {error}"
                log.error("%s failed: %s\n%s", video, failures[video.stem], traceback.format_exc())
        summary = {"videos": len(chosen), "shard": cfg.get("shard"), "results": results, "failed": failures,
                   "complete": not failures}
        atomic_write_text(target, json.dumps(summary, indent=1, default=str))
    print(f"{len(results)} of {len(chosen)} videos segmented into {out}/<name>/; summary: {target}"
          + (f"\nINCOMPLETE: {len(failures)} failed: " + "; ".join(f"{n}: {e}" for n, e in failures.items())
             if failures else ""))
    return summary
