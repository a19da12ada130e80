"""After training: evaluate the best checkpoint with eval.py's machinery beside the copy-first-mask baseline,
and save overlay previews."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stcnbuf.evaluation.app import evaluate_dataset
from stcnbuf.evaluation.baseline import copy_first_mask
from stcnbuf.io.atomic import atomic_write_bytes
from stcnbuf.io.masks import read_label_png
from stcnbuf.io.overlay import grid, overlay


def evaluate_checkpoint(cfg: DictConfig, checkpoint: Path, out_dir: Path) -> Dict[str, Any]:
    """J&F of ``checkpoint`` on ``cfg.val_data`` (settings ``cfg.val_memory`` / ``cfg.val_inference``) and of
    the baseline; overlay previews of a few sequences."""
    dataset = instantiate(cfg.val_data)
    settings = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("val_data", "val_memory", "val_inference")}
    model = {"checkpoint": str(checkpoint), "net": OmegaConf.to_container(cfg.model.net, resolve=True)}
    metrics = evaluate_dataset(dataset, out_dir / "eval", model, settings["val_memory"], settings["val_inference"],
                               device=cfg.device, overwrite=True, data_config=settings["val_data"])
    baseline = copy_first_mask(dataset, out_dir / "baseline")
    previews = save_previews(dataset, out_dir / "eval" / "predictions", out_dir / "overlays")
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
