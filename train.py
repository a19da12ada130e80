"""Train or fine-tune STCN: ``python train.py [overrides]`` (see configs/train.yaml and the README)."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from stcnbuf.runs.hydra_files import register_resolvers

os.environ.setdefault("STCNBUF_ROOT", str(Path(__file__).resolve().parent))
register_resolvers()


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from stcnbuf.training.app import train

    result = train(cfg)
    evaluation = result.get("evaluation")
    return evaluation["model"]["J&F-Mean"] if evaluation else result.get("val/J&F")


if __name__ == "__main__":
    main()
