"""After training: evaluate the best checkpoint with eval.py's machinery beside the copy-first-mask baseline,
and save overlay previews."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stcnbuf.evaluation.app import evaluate
from stcnbuf.evaluation.baseline import copy_first_mask
from stcnbuf.io.atomic import atomic_write_bytes
from stcnbuf.io.masks import read_label_png
from stcnbuf.io.overlay import grid, overlay


def evaluate_checkpoint(cfg: DictConfig, checkpoint: Path, out_dir: Path) -> Dict[str, Any]:
    """J&F of ``checkpoint`` on ``cfg.val_data`` (settings ``cfg.val_memory`` / ``cfg.val_inference``) and of
    the baseline; overlay previews of a few sequences."""
    eval_cfg = OmegaConf.create({
        "device": cfg.device, "output_dir": str(out_dir / "eval"), "overwrite": True, "score": True,
        "workers": None, "logger": {}, "paths": OmegaConf.to_container(cfg.paths, resolve=True),
        "model": {"checkpoint": str(checkpoint), "net": OmegaConf.to_container(cfg.model.net, resolve=True)},
        "data": OmegaConf.to_container(cfg.val_data, resolve=True),
        "memory": OmegaConf.to_container(cfg.val_memory, resolve=True),
        "inference": OmegaConf.to_container(cfg.val_inference, resolve=True),
    })
    metrics = evaluate(eval_cfg)
    dataset = instantiate(eval_cfg.data)
    baseline = copy_first_mask(dataset, out_dir / "baseline")
    previews = save_previews(dataset, Path(eval_cfg.output_dir) / "predictions", out_dir / "overlays")
    return {"model": metrics, "baseline": baseline, "overlays": previews}


def save_previews(dataset, predictions: Path, out_dir: Path, sequences: int = 3, frames: int = 4) -> Path:
    """One PNG per sequence: ``frames`` frames spread over the video with the predicted masks overlaid."""
    import cv2

    for name in dataset.names[:sequences]:
        sequence = dataset.sequence(name)
        picks = np.linspace(0, len(sequence) - 1, frames).round().astype(int)
        tiles = [overlay(sequence.read_frame(i), read_label_png(predictions / name / f"{sequence.frame_name(i)}.png"))
                 for i in picks]
        image = cv2.cvtColor(grid(tiles, columns=frames), cv2.COLOR_RGB2BGR)
        atomic_write_bytes(out_dir / f"{name}.png", cv2.imencode(".png", image)[1].tobytes())
    return out_dir
