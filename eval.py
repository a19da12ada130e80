"""Evaluate a checkpoint: ``python eval.py [overrides]`` (see configs/eval.yaml and the README)."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from stcnbuf.runs.hydra_files import is_multirun, register_resolvers

os.environ.setdefault("STCNBUF_ROOT", str(Path(__file__).resolve().parent))
register_resolvers()


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    from stcnbuf.evaluation.app import evaluate, objective

    metrics = evaluate(cfg)
    if not metrics["complete"] and not is_multirun():  # a sweep goes on; its summary marks the run incomplete
        sys.exit(1)
    return objective(metrics, cfg.get("memory_budget_mb"))


if __name__ == "__main__":
    main()
