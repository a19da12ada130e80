"""The Hydra applications: ``stcnbuf-train``, ``stcnbuf-eval``, ``stcnbuf-segment`` (and ``train.py``, ``eval.py``,
``python -m stcnbuf.apps.segment``, which call them).

Their configs are the package ``stcnbuf.configs`` (the repository's ``configs/``, shipped inside the wheel). Folders
(``paths.data_dir``, ``paths.log_dir``, ``paths.weights_dir``) are under ``STCNBUF_ROOT``: the repository for
``train.py`` / ``eval.py``, else the working directory.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from stcnbuf.apps.schemas import register_configs
from stcnbuf.runs.hydra_files import is_multirun

CONFIGS = "pkg://stcnbuf.configs"
register_configs()


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="train")
def train(cfg: DictConfig) -> float | None:
    """Train or fine-tune (``configs/train.yaml``); returns the held-out J&F for sweepers."""
    from stcnbuf.apps.train.train import train as run

    result = run(cfg)
    evaluation = result.get("evaluation")
    return evaluation["model"]["J&F-Mean"] if evaluation else result.get("val/J&F")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="eval")
def evaluate(cfg: DictConfig) -> float | None:
    """Evaluate a checkpoint on a dataset (``configs/eval.yaml``); exits 1 when the results are incomplete
    (a multirun goes on), returns the objective for sweepers."""
    from stcnbuf.apps.evaluate.evaluate import evaluate as run, objective

    metrics = run(cfg)
    if not metrics["complete"] and not is_multirun():  # a sweep goes on; its summary marks the run incomplete
        sys.exit(1)
    return objective(metrics, cfg.get("memory_budget_mb"))


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="segment")
def segment(cfg: DictConfig) -> None:
    """Segment a video, or many (``video=`` a folder of videos, a glob, a ``.txt`` list; ``configs/segment.yaml``);
    exits 1 when one of many failed."""
    from stcnbuf.apps.segment.segment import segment_video
    from stcnbuf.apps.segment.batch import segment_videos, video_list

    videos = video_list(str(cfg.video))
    if videos is None:
        segment_video(cfg)
    elif not segment_videos(cfg, videos, segment_video)["complete"] and not is_multirun():
        sys.exit(1)  # a sweep goes on; each job's videos.json names its failures

