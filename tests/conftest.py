"""Shared fixtures: a tiny random-weight network, small synthetic videos, the shared real data folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stcnbuf.engine.model import STCN

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CONFIGS = REPO / "configs"


def tiny_net(seed: int = 0) -> STCN:
    """A small random-weight STCN (ResNet-18 keys, narrow values) in eval mode."""
    torch.manual_seed(seed)
    return STCN(key_backbone="resnet18", key_dim=16, value_dim=32, decoder_dims=(32, 16, 16)).eval()


@pytest.fixture(scope="session")
def net() -> STCN:
    return tiny_net()


def moving_squares(num_frames: int = 12, height: int = 72, width: int = 100, seed: int = 0):
    """Frames of two textured squares moving over a textured background, and the label map of frame 0."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    textures = [rng.integers(0, 255, (20, 20, 3), dtype=np.uint8) for _ in range(2)]
    frames, labels = [], []
    for t in range(num_frames):
        frame = np.roll(background, t, axis=1).copy()
        label = np.zeros((height, width), np.uint8)
        for k, tex in enumerate(textures):
            y, x = 10 + 30 * k, (5 + 3 * t + 40 * k) % (width - 20)
            frame[y:y + 20, x:x + 20] = tex
            label[y:y + 20, x:x + 20] = k + 1
        frames.append(frame)
        labels.append(label)
    return frames, labels


@pytest.fixture(scope="session")
def video():
    return moving_squares()


def require_shared(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not found at {path} (the shared data folder is absent)")
    return path


def compose(config_name: str, overrides: list, return_hydra_config: bool = False):
    """A config composed with Hydra's compose API, as the entry points would see it."""
    import os

    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from stcnbuf.apps.schemas import register_configs

    os.environ.setdefault("STCNBUF_ROOT", str(REPO))
    register_configs()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides, return_hydra_config=return_hydra_config)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """The tiny random-weight network saved in the original STCN format."""
    from stcnbuf.engine.checkpoint import export_original

    return export_original(tiny_net(), tmp_path_factory.mktemp("weights") / "tiny.pth")


def link_sequence(frames, masks, out_frames: Path, out_masks: Path) -> None:
    """Symlink frame and mask files into a dataset layout (real files, no copies)."""
    out_frames.mkdir(parents=True, exist_ok=True)
    out_masks.mkdir(parents=True, exist_ok=True)
    for src in frames:
        (out_frames / src.name).symlink_to(src.resolve())
    for src in masks:
        (out_masks / src.name).symlink_to(src.resolve())
