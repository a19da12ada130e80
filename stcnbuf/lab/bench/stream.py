"""One benchmark stream: a random-weight network segments a synthetic video; time and RSS per frame."""

from __future__ import annotations

import json
import resource
from importlib import resources
import sys
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import numpy as np
import psutil
import torch
from omegaconf import OmegaConf

from stcnbuf.engine.build import build_segmenter
from stcnbuf.engine.labels import Annotation
from stcnbuf.engine.model.stcn import STCN
from stcnbuf.engine.plan import stream_plan
from stcnbuf.engine.runner import run_plan
from stcnbuf.engine.segmenter import Segmenter


@dataclass
class StreamConfig:
    """What one stream measures."""

    policy: str = "unbounded"
    capacity: Optional[int] = None
    temp_size: int = 0
    frames: int = 50
    height: int = 480
    width: int = 854
    objects: int = 3
    mem_every: int = 5
    top_k: int = 20
    precision: str = "fp32"
    compile: str = "none"
    model: str = "stcn"
    device: str = "cpu"
    threads: Optional[int] = None
    keep_freed_memory: bool = True
    seed: int = 0


@dataclass
class StreamResult:
    config: StreamConfig
    seconds: List[float] = field(default_factory=list)
    rss_mb: List[float] = field(default_factory=list)
    peak_rss_mb: List[float] = field(default_factory=list)
    memory_bytes: List[int] = field(default_factory=list)
    device_mb: List[float] = field(default_factory=list)  # CUDA: memory allocated after each frame
    device_peak_mb: float = 0.0


CONFIGS = resources.files("stcnbuf.configs")


def model_architecture(name: str) -> dict:
    """STCN arguments of ``configs/model/<name>.yaml``."""
    net = OmegaConf.to_container(OmegaConf.create((CONFIGS / "model" / f"{name}.yaml").read_text()).net)
    return {k: v for k, v in net.items() if k != "_target_"}


class SyntheticFrames:
    """``frames`` frames of ``frame(t)`` as a random-access sequence, each made when it is asked for."""

    def __init__(self, frame, frames: int) -> None:
        self.frame, self.frames = frame, frames

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, t: int) -> np.ndarray:
        return self.frame(t)


def build_stream_segmenter(cfg: StreamConfig, net: STCN, policy: Optional[str] = None,
                           precision: Optional[str] = None, channels_last: bool = True,
                           fold_batchnorm: bool = True) -> Segmenter:
    """The segmenter ``cfg`` describes (through the one builder every tool uses)."""
    memory = {"policy": policy or cfg.policy, "capacity": cfg.capacity if (policy or cfg.policy) != "unbounded"
              else None, "temp_size": cfg.temp_size}
    inference = {"mem_every": cfg.mem_every, "top_k": cfg.top_k, "precision": precision or cfg.precision,
                 "compile": cfg.compile, "channels_last": channels_last, "fold_batchnorm": fold_batchnorm,
                 "keep_freed_memory": cfg.keep_freed_memory}
    return build_segmenter(net, memory, inference, cfg.device)


def stream_steps(seg: Segmenter, frame, label: np.ndarray, cfg: StreamConfig, ids=None):
    """The steps of streaming ``cfg.frames`` frames from frame 0, pulled one by one by the caller."""
    plan = stream_plan(cfg.frames, [0], seg.mem_every, seg.has_ring, backward=False)
    return run_plan(seg, plan, SyntheticFrames(frame, cfg.frames), {0: Annotation(0, label, ids)})


def synthetic_stream(cfg: StreamConfig):
    """Deterministic frames (a textured background sliding under textured objects) and the first label map."""
    rng = np.random.default_rng(cfg.seed)
    h, w = cfg.height, cfg.width
    background = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    size = max(8, min(h, w) // 5)
    label = np.zeros((h, w), np.uint8)
    places = [(int(rng.integers(0, h - size)), int(rng.integers(0, w - size))) for _ in range(cfg.objects)]
    for k, (y, x) in enumerate(places):
        label[y:y + size, x:x + size] = k + 1

    def frame(t: int) -> np.ndarray:
        f = np.roll(background, 3 * t, axis=1)
        for k, (y, x) in enumerate(places):
            yy, xx = (y + t) % (h - size), (x + 2 * t * (k + 1)) % (w - size)
            f[yy:yy + size, xx:xx + size] = 60 * (k + 1)
        return f

    return frame, label


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_stream(cfg: StreamConfig, progress: bool = True) -> StreamResult:
    """Segment ``cfg.frames`` frames and record the time, RSS and memory-bank size after each one."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    seg = build_stream_segmenter(cfg, STCN(**model_architecture(cfg.model)))
    frame, label = synthetic_stream(cfg)
    result = StreamResult(cfg)
    process = psutil.Process()
    for step in stream_steps(seg, frame, label, cfg):
        t = step.visit.frame
        result.seconds.append(step.seconds)
        result.rss_mb.append(process.memory_info().rss / 2 ** 20)
        result.peak_rss_mb.append(_peak_rss_mb())
        result.memory_bytes.append(int(seg.memory.stats()["bytes"]))
        if cfg.device.startswith("cuda"):
            result.device_mb.append(torch.cuda.memory_allocated(torch.device(cfg.device)) / 2 ** 20)
        if progress and (t + 1) % 10 == 0:
            print(f"  [{cfg.policy}] frame {t + 1}/{cfg.frames}: {result.seconds[-1]:.3f} s, "
                  f"RSS {result.rss_mb[-1]:.0f} MiB", file=sys.stderr, flush=True)
    if cfg.device.startswith("cuda"):
        result.device_peak_mb = torch.cuda.max_memory_allocated(torch.device(cfg.device)) / 2 ** 20
    return result


def main() -> None:
    """Worker entry: a StreamConfig as JSON on argv[1], the StreamResult as JSON on stdout."""
    cfg = StreamConfig(**json.loads(sys.argv[1]))
    print(json.dumps(asdict(run_stream(cfg))))


if __name__ == "__main__":
    main()
