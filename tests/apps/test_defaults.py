"""The apps' defaults serve a GPU user: device=auto (CUDA, then MPS, then CPU) and precision=auto; the
reproduction recipes keep the originals' fp32, and the quickstart, whose figures the README gives, fp32 too."""

from pathlib import Path

import pytest
import torch

from stcnbuf.engine.build import resolve_device
from stcnbuf.engine.settings import OfflineInference, OnlineInference
from tests.conftest import CONFIGS, compose


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_takes_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto") == torch.device(expected)


@pytest.mark.parametrize("entry,overrides", [("segment", ["video=clip.mp4"]), ("eval", []), ("train", ["experiment=stage3"])])
def test_every_app_defaults_to_auto(entry, overrides):
    cfg = compose(entry, overrides)
    assert cfg.device == "auto"
    inference = cfg.get("inference") or cfg.get("val_inference")
    assert inference.precision == "auto"
    assert OnlineInference().precision == OfflineInference().precision == "auto"


def test_the_quickstart_evaluates_in_fp32_on_every_cpu():
    cfg = compose("train", [])
    assert cfg.device == "auto" and cfg.val_inference.precision == "fp32"


@pytest.mark.parametrize("recipe", sorted(p.stem for p in (CONFIGS / "experiment").glob("reproduce_*.yaml")))
def test_the_reproduction_recipes_keep_fp32(recipe):
    assert compose("eval", [f"experiment={recipe}"]).inference.precision == "fp32"
    assert "precision: fp32" in Path(CONFIGS / "experiment" / f"{recipe}.yaml").read_text()
