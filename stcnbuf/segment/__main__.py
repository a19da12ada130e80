"""``python -m stcnbuf.segment video=FILE [init=mask|maskrcnn|click] [overrides]`` (configs/segment.yaml)."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from stcnbuf.runs.hydra_files import register_resolvers

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("STCNBUF_ROOT", str(REPO))
register_resolvers()


@hydra.main(version_base="1.3", config_path=str(REPO / "configs"), config_name="segment")
def main(cfg: DictConfig) -> None:
    from stcnbuf.segment.app import segment_video

    segment_video(cfg)


if __name__ == "__main__":
    main()
