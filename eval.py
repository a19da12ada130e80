"""Evaluate a checkpoint: ``python eval.py [overrides]`` (see configs/eval.yaml and the README)."""

import os
from pathlib import Path

from stcnbuf.apps.cli import evaluate

if __name__ == "__main__":
    os.environ.setdefault("STCNBUF_ROOT", str(Path(__file__).resolve().parent))  # data/, logs/, weights/ here
    evaluate()
