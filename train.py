"""Train or fine-tune STCN: ``python train.py [overrides]`` (see configs/train.yaml and the README)."""

import os
from pathlib import Path

from stcnbuf.apps.cli import train

if __name__ == "__main__":
    os.environ.setdefault("STCNBUF_ROOT", str(Path(__file__).resolve().parent))  # data/, logs/, weights/ here
    train()
