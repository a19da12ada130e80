"""STCN's YouTube-VOS evaluation (``eval_youtube.py`` with ``inference_core_yv.py``, fp32, no temporary frame),
written out step by step for the tests: frames normalised then resized bicubically without antialiasing
(torchvision 0.9's tensor ``Resize``), one-hot masks resized by torchvision's nearest ``Resize``, one memory bank
per object from its first mask on, the memory schedule counted from the latest annotated frame, propagation from
each annotated frame to the next, nothing written before the first one, and every written frame the arg-max of
the probabilities scaled back bilinearly.
"""

from __future__ import annotations

import math
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from stcnbuf.engine.model.stcn import STCN
from stcnbuf.lab.bench.reference import _decode, _encode_value

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def _aggregate(prob: torch.Tensor) -> torch.Tensor:  # model/aggregate.py, keep_bg=True
    new_prob = torch.cat([torch.prod(1 - prob, dim=0, keepdim=True), prob], 0).clamp(1e-7, 1 - 1e-7)
    return F.softmax(torch.log(new_prob / (1 - new_prob)), dim=0)


def _pad_divide_by(x: torch.Tensor, d: int = 16):  # util/tensor_util.py
    h, w = x.shape[-2:]
    new_h = h + d - h % d if h % d else h
    new_w = w + d - w % d if w % d else w
    lh, uh = int((new_h - h) / 2), int(new_h - h) - int((new_h - h) / 2)
    lw, uw = int((new_w - w) / 2), int(new_w - w) - int((new_w - w) / 2)
    return F.pad(x, (lw, uw, lh, uh)), (lw, uw, lh, uh)


def _unpad(x: torch.Tensor, pad) -> torch.Tensor:
    if pad[2] + pad[3] > 0:
        x = x[:, :, pad[2]:-pad[3], :]
    if pad[0] + pad[1] > 0:
        x = x[:, :, :, pad[0]:-pad[1]]
    return x


class _Bank:  # inference_memory_bank.py, one per object
    def __init__(self, top_k: int) -> None:
        self.top_k, self.keys, self.values = top_k, None, None

    def add(self, key: torch.Tensor, value: torch.Tensor) -> None:
        key, value = key.flatten(1), value.flatten(1)  # [Ck, hw], [Cv, hw]
        self.keys = key if self.keys is None else torch.cat([self.keys, key], 1)
        self.values = value if self.values is None else torch.cat([self.values, value], 1)

    def read(self, query: torch.Tensor) -> torch.Tensor:
        ck = self.keys.shape[0]
        affinity = (2 * self.keys.t() @ query - self.keys.pow(2).sum(0).unsqueeze(1)) / math.sqrt(ck)
        values, indices = torch.topk(affinity, k=min(self.top_k, affinity.shape[0]), dim=0)
        weights = values.exp()
        weights /= weights.sum(0, keepdim=True)
        sparse = torch.zeros_like(affinity).scatter_(0, indices, weights)
        return self.values @ sparse


@torch.no_grad()
def stcn_youtube(net: STCN, frames: List[np.ndarray], masks: Dict[int, np.ndarray], required: List[int],
                 side: int = 480, mem_every: int = 5, top_k: int = 20) -> Dict[int, np.ndarray]:
    """STCN's outputs of one video: ``frames`` ``H×W×3`` uint8 (every frame), ``masks`` frame -> label map
    (each object's first mask), ``required`` the frames to write -> frame -> label map at the native size."""
    net = net.eval()
    height, width = frames[0].shape[:2]
    images = []
    for frame in frames:
        x = (torch.from_numpy(frame).permute(2, 0, 1).float().div(255) - MEAN) / STD
        short, long = (width, height) if width <= height else (height, width)
        if short != side:  # torchvision 0.9: new_short = side, new_long = int(side * long / short)
            size = (int(side * height / width), side) if width <= height else (side, int(side * width / height))
            x = F.interpolate(x[None], size=size, mode="bicubic", align_corners=False)[0]
        images.append(x)
    labels = sorted({int(v) for m in masks.values() for v in np.unique(m)} - {0})
    onehot = np.zeros((len(labels), len(frames), height, width), np.uint8)
    for t, m in masks.items():
        for k, label in enumerate(labels):
            onehot[k, t] = m == label
    onehot = TF.resize(torch.from_numpy(onehot).float(), side, interpolation=InterpolationMode.NEAREST)
    padded, pad = _pad_divide_by(torch.stack(images))
    num = len(labels)
    prob = torch.zeros(num + 1, len(frames), 1, *padded.shape[-2:])
    prob[0] = 1e-7
    enabled: List[int] = []
    banks: Dict[int, _Bank] = {}
    annotated = sorted(masks)
    for n, frame_idx in enumerate(annotated):
        end_idx = annotated[n + 1] + 1 if n + 1 < len(annotated) else len(frames)
        objects = [labels.index(int(v)) + 1 for v in np.unique(masks[frame_idx]) if v != 0]
        mask = torch.cat([1 - onehot[:, frame_idx].sum(0, keepdim=True), onehot[:, frame_idx]], 0)[:, None]
        mask, _ = _pad_divide_by(mask)
        enabled.extend(objects)
        regions = mask[1:].sum(0) > 0.5
        prob[:, frame_idx, regions] = 0
        prob[objects, frame_idx] = mask[objects]
        prob[:, frame_idx] = _aggregate(prob[1:, frame_idx])
        k16, _, f16, _, _ = net.encode_key(padded[frame_idx][None])
        value = _encode_value(net, padded[frame_idx][None], f16, prob[enabled, frame_idx][:, 0])
        for i, oi in enumerate(enabled):
            banks.setdefault(oi, _Bank(top_k)).add(k16[0], value[i])
        last = frame_idx
        for ti in range(frame_idx + 1, end_idx):
            is_mem_frame = abs(ti - last) >= mem_every
            k16, f16_thin, f16, f8, f4 = net.encode_key(padded[ti][None])
            h, w = k16.shape[-2:]
            readouts = torch.stack([banks[oi].read(k16[0].flatten(1)).view(-1, h, w) for oi in enabled])
            out = _aggregate(torch.sigmoid(_decode(net, readouts, f16_thin, f8, f4))[:, None])
            prob[0, ti] = out[0]
            for i, oi in enumerate(enabled):
                prob[oi, ti] = out[i + 1]
            if ti != end_idx - 1 and is_mem_frame:
                value = _encode_value(net, padded[ti][None], f16, out[1:, 0])
                for i, oi in enumerate(enabled):
                    banks[oi].add(k16[0], value[i])
                last = ti
    result = {}
    for t in required:
        if t < annotated[0]:
            continue
        p = F.interpolate(_unpad(prob[:, t], pad), (height, width), mode="bilinear", align_corners=False)
        index = torch.argmax(p, dim=0)[0].numpy()
        result[t] = np.array([0, *labels], np.uint8)[index]
    return result
