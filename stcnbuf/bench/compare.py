"""stcnbuf's engine against STCN's original computation: per-frame time on the same frames and weights."""

from __future__ import annotations

import copy
import time
from typing import Dict

import numpy as np
import torch

from stcnbuf.bench.reference import OriginalSTCN
from stcnbuf.bench.stream import StreamConfig, build_stream_segmenter, model_architecture, stream_steps, synthetic_stream
from stcnbuf.model.stcn import STCN


def compare_with_original(cfg: StreamConfig) -> Dict[str, float]:
    """Mean seconds per frame (frames 2..N) of both, their ratio and the agreement of their label maps."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = STCN(**model_architecture(cfg.model)).eval()
    frame, label = synthetic_stream(cfg)
    ids = list(range(1, cfg.objects + 1))
    ours = stream_steps(build_stream_segmenter(cfg, copy.deepcopy(net), policy="unbounded"), frame, label, cfg, ids)
    original = OriginalSTCN(net, mem_every=cfg.mem_every, top_k=cfg.top_k)
    times = {"stcnbuf": [], "original": []}
    agreement, difference = [], 0.0
    next(ours)
    original.start(frame(0), label, ids)
    for t in range(1, cfg.frames):
        image = frame(t)
        step = next(ours)
        mine = step.prediction.probs
        times["stcnbuf"].append(step.seconds)
        start = time.perf_counter()
        theirs = original.step(image)
        times["original"].append(time.perf_counter() - start)
        theirs = theirs[..., original.padding[2]: theirs.shape[-2] - original.padding[3],
                        original.padding[0]: theirs.shape[-1] - original.padding[1]]
        agreement.append(float((mine.argmax(0) == theirs.argmax(0)).float().mean()))
        difference = max(difference, float((mine - theirs).abs().max()))
    ours_s, original_s = float(np.mean(times["stcnbuf"])), float(np.mean(times["original"]))
    return {"stcnbuf_s_per_frame": ours_s, "original_s_per_frame": original_s, "ratio": ours_s / original_s,
            "label_agreement": float(np.mean(agreement)), "max_prob_difference": difference, "frames": cfg.frames}


#: frames left out of the precision timings (first-call allocations and kernel selection)
WARM_UP = 2


def precision_speed(cfg: StreamConfig, checkpoint: str | None = None) -> Dict[str, float]:
    """fp32 against bf16 autocast on one stream: seconds per frame, speed-up and label agreement."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if checkpoint:
        from stcnbuf.checkpoint import architecture_of, load_state, read_network_state

        state = read_network_state(checkpoint)
        net = load_state(STCN(**architecture_of(state, checkpoint)), state, checkpoint)
    else:
        net = STCN(**model_architecture(cfg.model))
    frame, label = synthetic_stream(cfg)
    results: Dict[str, float] = {}
    labels: Dict[str, list] = {}
    probs: Dict[str, list] = {}
    for precision in ("fp32", "bf16"):
        seg = build_stream_segmenter(cfg, net, policy="unbounded", precision=precision)
        spent, maps = [], []
        for step in stream_steps(seg, frame, label, cfg):
            if step.position == 0:
                continue
            prediction = step.prediction
            spent.append(step.seconds)
            maps.append(prediction.labels)
            probs.setdefault(precision, []).append(prediction.probs)
        results[f"{precision}_s_per_frame"] = float(np.mean(spent[WARM_UP:] if len(spent) > 2 * WARM_UP else spent))
        labels[precision] = maps
    results["bf16_speedup"] = results["fp32_s_per_frame"] / results["bf16_s_per_frame"]
    results["label_agreement"] = float(np.mean([(a == b).float().mean() for a, b in zip(labels["fp32"], labels["bf16"])]))
    results["max_prob_difference"] = max(float((a - b).abs().max()) for a, b in zip(probs["fp32"], probs["bf16"]))
    return results
