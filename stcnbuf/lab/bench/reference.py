"""STCN's original inference computation, for side-by-side timing with the same weights.

What the original does and stcnbuf does not: every object is decoded from the concatenated
``[readout, f16_thin]`` (the object-independent half of the first block and the skip convolutions are
recomputed per object), the value encoder's 5-channel input and fusion are built per object, the memory
grows by concatenation, and the read builds the dense ``memory × query`` affinity, scatters the top-k
weights back into it and multiplies it with all values.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from stcnbuf.engine.memory.read import dense_topk_readout
from stcnbuf.engine.model.aggregate import aggregate
from stcnbuf.engine.model.stcn import STCN
from stcnbuf.engine.preprocess import normalize_frame, pad, padding_for


def _decode(net: STCN, readout: Tensor, f16_thin: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
    k = readout.shape[0]
    dec = net.decoder
    x = dec.compress(torch.cat([readout, f16_thin.expand(k, -1, -1, -1)], 1))
    for block, skip in ((dec.up_16_8, f8), (dec.up_8_4, f4)):
        x = block.skip_conv(skip.expand(k, -1, -1, -1)) + F.interpolate(x, scale_factor=2.0, mode="bilinear",
                                                                     align_corners=False)
        x = block.out_conv(x)
    x = dec.pred(F.relu(x))
    return F.interpolate(x, scale_factor=4.0, mode="bilinear", align_corners=False)[:, 0]


def _encode_value(net: STCN, image: Tensor, f16: Tensor, masks: Tensor) -> Tensor:
    k = masks.shape[0]
    enc = net.value_encoder
    others = torch.stack([masks[[j for j in range(k) if j != i]].sum(0) for i in range(k)]) if k > 1 \
        else torch.zeros_like(masks)
    x = torch.cat([image.expand(k, -1, -1, -1), masks[:, None], others[:, None]], 1)
    x = enc.maxpool(enc.relu(enc.bn1(enc.conv1(x))))
    x = enc.layer3(enc.layer2(enc.layer1(x)))
    fuser = enc.fuser
    x = fuser.block1(torch.cat([x, f16.expand(k, -1, -1, -1)], 1))
    x = x + fuser.attention(x)
    return fuser.block2(x)


class OriginalSTCN:
    """Streams a video as STCN's evaluation does (unbounded memory, ``mem_every``, top-k), frame by frame."""

    def __init__(self, net: STCN, mem_every: int = 5, top_k: int = 20) -> None:
        self.net = net.eval()
        self.mem_every, self.top_k = mem_every, top_k
        self.keys: Optional[Tensor] = None
        self.values: Optional[Tensor] = None
        self.index = 0

    @torch.no_grad()
    def start(self, frame: np.ndarray, label_map: np.ndarray, object_ids: List[int]) -> Tensor:
        image = self._image(frame)
        masks = torch.stack([torch.from_numpy(label_map == i) for i in object_ids]).float()
        probs = aggregate(pad(masks, self.padding), 0)
        self.keys = self.values = None
        self._store(image, probs)
        self.index = 0
        return probs

    @torch.no_grad()
    def step(self, frame: np.ndarray) -> Tensor:
        self.index += 1
        image = self._image(frame)
        k16, f16_thin, f16, f8, f4 = self.net.encode_key(image)
        h, w = k16.shape[-2:]
        readout = dense_topk_readout(k16[0].flatten(1), self.keys, self.values, self.top_k)
        k = self.values.shape[1] // self.net.value_dim
        readout = readout.t().reshape(k, self.net.value_dim, h, w)
        probs = aggregate(torch.sigmoid(_decode(self.net, readout, f16_thin, f8, f4)), 0)
        if self.index % self.mem_every == 0:
            self._append(k16[0], _encode_value(self.net, image, f16, probs[1:]))
        return probs

    def _image(self, frame: np.ndarray) -> Tensor:
        self.padding = padding_for(*frame.shape[:2])
        return pad(normalize_frame(torch.from_numpy(np.ascontiguousarray(frame)), torch.device("cpu")), self.padding)

    def _store(self, image: Tensor, probs: Tensor) -> None:
        k16, _, f16, _, _ = self.net.encode_key(image)
        self._append(k16[0], _encode_value(self.net, image, f16, probs[1:]))

    def _append(self, key: Tensor, values: Tensor) -> None:
        key_rows = key.flatten(1).t()
        value_rows = values.flatten(2).permute(2, 0, 1).flatten(1)
        self.keys = key_rows if self.keys is None else torch.cat([self.keys, key_rows])
        self.values = value_rows if self.values is None else torch.cat([self.values, value_rows])
