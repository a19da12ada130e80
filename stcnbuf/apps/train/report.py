"""After training: evaluate the best checkpoint with eval.py's machinery beside the copy-first-mask baseline
(on the held-out sequences, and on a set from another generator where one is configured), and save overlay
previews."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stcnbuf.apps.evaluate.evaluate import evaluate_dataset
from stcnbuf.io.atomic import atomic_write_bytes
from stcnbuf.io.masks import read_label_png
from stcnbuf.io.overlay import grid, overlay
from stcnbuf.scoring.baseline import copy_first_mask


def evaluate_checkpoint(cfg: DictConfig, checkpoint: Path, out_dir: Path) -> Dict[str, Any]:
    """J&F of ``checkpoint`` on ``cfg.val_data`` (settings ``cfg.val_memory`` / ``cfg.val_inference``) and of
    the baseline, and the same on ``cfg.transfer_data`` when set (``transfer``: into ``eval_transfer/`` and
    ``baseline_transfer/``); overlay previews of a few held-out sequences."""
    model = {"checkpoint": str(checkpoint), "net": OmegaConf.to_container(cfg.model.net, resolve=True)}
    result = _evaluate(cfg, "val_data", model, out_dir / "eval", out_dir / "baseline")
    result["overlays"] = save_previews(result.pop("dataset"), out_dir / "eval" / "predictions", out_dir / "overlays")
    if cfg.get("transfer_data") is not None:
        transfer = _evaluate(cfg, "transfer_data", model, out_dir / "eval_transfer", out_dir / "baseline_transfer")
        transfer.pop("dataset")
        result["transfer"] = transfer
    return result


def _evaluate(cfg: DictConfig, key: str, model: Dict[str, Any], out: Path, baseline_out: Path) -> Dict[str, Any]:
    dataset = instantiate(cfg[key])
    settings = {name: OmegaConf.to_container(cfg[name], resolve=True) for name in (key, "val_memory", "val_inference")}
    metrics = evaluate_dataset(dataset, out, model, settings["val_memory"], settings["val_inference"],
                               device=cfg.device, overwrite=True, data_config=settings[key])
    return {"model": metrics, "baseline": copy_first_mask(dataset, baseline_out), "dataset": dataset}


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
