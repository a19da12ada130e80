"""``stcnbuf-checkpoint inspect``: the released STCN file a checkpoint's layout matches, its tensor and parameter
counts."""

from __future__ import annotations

import re
from typing import Dict

import pytest
import torch

from stcnbuf.apps.checkpoint import main as checkpoint_main
from stcnbuf.engine.model import STCN

STAGE0_KEY = "value_encoder.conv1.weight"


@pytest.fixture(scope="module")
def full_size() -> STCN:
    """A random-weight full-size STCN with non-default BatchNorm statistics."""
    torch.manual_seed(1)
    net = STCN()
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
    return net


def inspected(path, capsys) -> Dict[str, str]:
    """``inspect``'s output: its counts (tensors, parameters, values) and its labelled lines."""
    checkpoint_main(["inspect", str(path)])
    first, *rest = capsys.readouterr().out.splitlines()
    counts = re.fullmatch(r".*: (\d+) tensors, ([\d,]+) parameters \(([\d,]+) values with the BatchNorm statistics\)",
                          first)
    assert counts, first
    lines = dict(line.split(": ", 1) for line in rest)
    assert list(lines) == ["architecture", "released file", "sha256"]
    numbers = (int(count.replace(",", "")) for count in counts.groups())
    return {**lines, **dict(zip(("tensors", "parameters", "values"), numbers))}


def test_a_released_file_is_named_with_its_counts(full_size, tmp_path, capsys):
    torch.save(full_size.state_dict(), tmp_path / "stcn.pth")  # a plain state dict, as released files are
    report = inspected(tmp_path / "stcn.pth", capsys)
    assert report["released file"].startswith("STCN's s01, s03 or s012 layout (multi-object network, 5th value")
    assert report["tensors"] == 405 == len(full_size.state_dict())
    assert report["parameters"] == sum(p.numel() for p in full_size.parameters()) == 54_434_180
    assert report["values"] == sum(v.numel() for v in full_size.state_dict().values()) == 54_469_310
    assert report["architecture"].startswith("{'key_backbone': 'resnet50'")


def test_a_stage0_file_is_named_with_its_own_counts(full_size, tmp_path, capsys):
    state = full_size.state_dict()
    state[STAGE0_KEY] = state[STAGE0_KEY][:, :4].clone()
    torch.save(state, tmp_path / "stcn_s0.pth")
    report = inspected(tmp_path / "stcn_s0.pth", capsys)
    assert report["released file"].startswith("STCN's stage-0 layout, s0 (4 value input channels")
    missing = full_size.value_encoder.conv1.weight[:, 4:].numel()
    assert report["tensors"] == 405
    assert report["parameters"] == sum(p.numel() for p in full_size.parameters()) - missing == 54_431_044


def test_the_small_model_is_no_released_file(tmp_path, capsys):
    torch.manual_seed(0)
    net = STCN(key_backbone="resnet18", key_width=32, value_width=32, value_dim=64, decoder_dims=(64, 32, 32))
    torch.save({"state_dict": {"net." + k: v for k, v in net.state_dict().items()}}, tmp_path / "small.ckpt")
    report = inspected(tmp_path / "small.ckpt", capsys)
    assert report["released file"].startswith("none")
    assert report["tensors"] == len(net.state_dict())
    assert report["parameters"] == sum(p.numel() for p in net.parameters()) == 2_252_328
