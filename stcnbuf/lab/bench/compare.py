"""Side-by-side timings in alternating rounds: the engine against STCN's original computation (``compare``) and
fp32 against bf16 (``precision``), with the agreement of their results."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from stcnbuf.engine.allocator import keep_freed_memory
from stcnbuf.engine.model.stcn import STCN
from stcnbuf.io import read_label_png
from stcnbuf.lab.bench.reference import OriginalSTCN
from stcnbuf.lab.bench.rounds import alternate, ratio, summary
from stcnbuf.lab.bench.stream import StreamConfig, build_stream_segmenter, model_architecture, stream_steps, synthetic_stream

#: the engine's settings compared with the original: name -> (channels_last, fold_batchnorm)
ENGINE_SIDES: Dict[str, Tuple[bool, bool]] = {
    "stcnbuf exact (reproduce_*)": (False, False),
    "stcnbuf channels-first": (False, True),
    "stcnbuf default": (True, True),
}


def davis_sequence(folder: Path, frames: int) -> Tuple[Callable[[int], np.ndarray], np.ndarray, int]:
    """``frame(t)``, the first mask and the frame count of a DAVIS sequence given as ``ROOT/NAME``
    (``ROOT/JPEGImages/480p/NAME/*.jpg``, ``ROOT/Annotations/480p/NAME/00000.png``; 0/255 masks are object 1)."""
    root, name = folder.parent, folder.name
    images = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))[:frames]
    masks = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
    if not images or not masks:
        raise FileNotFoundError(f"--sequence {folder}: expected {root}/JPEGImages/480p/{name}/*.jpg and "
                                f"{root}/Annotations/480p/{name}/*.png (a DAVIS root and a sequence name)")
    loaded = [np.asarray(Image.open(path).convert("RGB")) for path in images]
    label = read_label_png(masks[0])
    binary = set(np.unique(label).tolist()) <= {0, 255}  # DAVIS 2016: 255 is the object
    label = (label > 0).astype(np.uint8) if binary else np.where(label == 255, 0, label).astype(np.uint8)
    return (lambda t: loaded[t]), label, len(loaded)


def _frames(cfg: StreamConfig, sequence: Optional[Path]):
    if sequence is None:
        frame, label = synthetic_stream(cfg)
        return frame, label, cfg
    frame, label, count = davis_sequence(sequence, cfg.frames)
    return frame, label, replace(cfg, frames=count, height=label.shape[0], width=label.shape[1])


def _agreement(mine: List[torch.Tensor], theirs: List[torch.Tensor]) -> Dict[str, float]:
    labels = [float((a.argmax(0) == b.argmax(0)).double().mean()) for a, b in zip(mine, theirs)]
    return {"label_agreement": float(np.mean(labels)),
            "identical_frames": sum(bool(torch.equal(a.argmax(0), b.argmax(0))) for a, b in zip(mine, theirs)),
            "max_prob_difference": max(float((a - b).abs().max()) for a, b in zip(mine, theirs))}


#: each side's allocator when sides run in their own processes: STCN's as it runs, the engine's as the apps run it
ISOLATED_ALLOCATOR = {"original": False, **{name: True for name in ENGINE_SIDES}}


def side_round(side: str, cfg: StreamConfig, sequence: Optional[Path], keep: bool) -> Tuple[float, List[torch.Tensor]]:
    """One round of one side: mean seconds per frame (frames 2..N) and, when ``keep``, every frame's
    probabilities (unpadded)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = STCN(**model_architecture(cfg.model)).eval()
    frame, label, cfg = _frames(cfg, sequence)
    ids = [int(i) for i in np.unique(label) if i != 0]
    spent, kept = [], []
    if side == "original":
        reference = OriginalSTCN(net, mem_every=cfg.mem_every, top_k=cfg.top_k)
        reference.start(frame(0), label, ids)
        for t in range(1, cfg.frames):
            image = frame(t)
            start = time.perf_counter()
            out = reference.step(image)
            spent.append(time.perf_counter() - start)
            if keep:
                pad = reference.padding
                kept.append(out[..., pad[2]: out.shape[-2] - pad[3], pad[0]: out.shape[-1] - pad[1]])
    else:
        channels_last, fold = ENGINE_SIDES[side]
        seg = build_stream_segmenter(cfg, net, policy="unbounded", channels_last=channels_last, fold_batchnorm=fold)
        for step in stream_steps(seg, frame, label, cfg, ids):
            if step.position == 0:
                continue
            spent.append(step.seconds)
            if keep:
                kept.append(step.prediction.probs)
    return float(np.mean(spent)), kept


def _isolated_round(side: str, cfg: StreamConfig, sequence: Optional[Path], keep: bool) -> Tuple[float, List]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "round.pt"
        job = {"side": side, "config": asdict(replace(cfg, keep_freed_memory=ISOLATED_ALLOCATOR[side])),
               "sequence": str(sequence) if sequence else None, "keep": keep, "out": str(out)}
        done = subprocess.run([sys.executable, "-m", "stcnbuf.lab.bench.compare", json.dumps(job)])
        if done.returncode != 0:
            raise RuntimeError(f"the compare round of {side!r} failed (exit code {done.returncode})")
        result = torch.load(out, weights_only=True)
    return result["seconds"], result["probs"]


def compare_with_original(cfg: StreamConfig, rounds: int = 3, sequence: Optional[Path] = None,
                          isolate: bool = False) -> Dict:
    """Seconds per frame (frames 2..N) of STCN's original computation and of the engine's settings
    (:data:`ENGINE_SIDES`) in alternating rounds; each side's agreement with the original (first round).

    In one process (the default) every side shares the process's allocator (``cfg.keep_freed_memory``);
    with ``isolate`` each round runs in a fresh process, the original with glibc's default allocator and the
    engine with freed memory kept (:data:`ISOLATED_ALLOCATOR`), as each runs on its own.
    """
    if cfg.keep_freed_memory and not isolate:
        keep_freed_memory()
    _, label, cfg = _frames(cfg, sequence)
    probs: Dict[str, List[torch.Tensor]] = {}

    def side(name: str) -> Callable[[int], float]:
        def run(r: int) -> float:
            seconds, kept = (_isolated_round if isolate else side_round)(name, cfg, sequence, r == 0)
            probs.setdefault(name, kept)
            return seconds
        return run

    results = alternate({name: side(name) for name in ("original", *ENGINE_SIDES)}, rounds, "compare ")
    return {"frames": cfg.frames, "objects": len([i for i in np.unique(label) if i != 0]),
            "size": [cfg.height, cfg.width], "source": str(sequence) if sequence else "synthetic",
            "isolated": isolate, "rounds": results,
            "sides": {name: {**summary(results[name]),
                             **({} if name == "original" else ratio(results[name], results["original"])),
                             **({} if name == "original" else _agreement(probs[name], probs["original"]))}
                      for name in results}}


def precision_speed(cfg: StreamConfig, checkpoint: Optional[str] = None, rounds: int = 3) -> Dict:
    """fp32 against bf16 on one stream in alternating rounds: seconds per frame, ratios, label agreement
    (first round)."""
    if cfg.keep_freed_memory:
        keep_freed_memory()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if checkpoint:
        from stcnbuf.engine.checkpoint import architecture_of, load_state, read_network_state

        state = read_network_state(checkpoint)
        net = load_state(STCN(**architecture_of(state, checkpoint)), state, checkpoint)
    else:
        net = STCN(**model_architecture(cfg.model))
    frame, label = synthetic_stream(cfg)
    probs: Dict[str, List[torch.Tensor]] = {}

    def side(precision: str) -> Callable[[int], float]:
        def run(r: int) -> float:
            seg = build_stream_segmenter(cfg, net, policy="unbounded", precision=precision)
            spent, kept = [], []
            for step in stream_steps(seg, frame, label, cfg):
                if step.position == 0:
                    continue
                spent.append(step.seconds)
                if r == 0:
                    kept.append(step.prediction.probs)
            probs.setdefault(precision, kept)
            return float(np.mean(spent))
        return run

    results = alternate({"fp32": side("fp32"), "bf16": side("bf16")}, rounds, "precision ")
    return {"frames": cfg.frames, "rounds": results, "fp32": summary(results["fp32"]),
            "bf16": summary(results["bf16"]), **ratio(results["bf16"], results["fp32"]),
            **_agreement(probs["bf16"], probs["fp32"])}


def main() -> None:
    """Worker entry of an isolated round: a job as JSON on argv[1]; seconds and probabilities to its ``out``."""
    job = json.loads(sys.argv[1])
    cfg = StreamConfig(**job["config"])
    if cfg.keep_freed_memory:
        keep_freed_memory()
    seconds, probs = side_round(job["side"], cfg, Path(job["sequence"]) if job["sequence"] else None, job["keep"])
    torch.save({"seconds": seconds, "probs": probs}, job["out"])


if __name__ == "__main__":
    main()
