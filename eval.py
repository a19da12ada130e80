"""Evaluate a checkpoint: ``python eval.py [overrides]`` (see configs/eval.yaml and the README)."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("STCNBUF_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    from stcnbuf.evaluation.app import evaluate, objective

    return objective(evaluate(cfg), cfg.get("memory_budget_mb"))


if __name__ == "__main__":
    main()
