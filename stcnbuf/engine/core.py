"""The per-frame computation as one scriptable module: key encoding, memory read, decoding, aggregation."""

from __future__ import annotations

import contextlib
import functools
import warnings
from typing import Tuple

import torch
from torch import Tensor, nn

from stcnbuf.engine.memory.read import read_memory
from stcnbuf.engine.model.aggregate import aggregate
from stcnbuf.engine.model.stcn import STCN

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
COMPILE_MODES = ("none", "script", "compile")


class SegmentationCore(nn.Module):
    """Segments one padded frame against the memory's tensors; holds no state of its own.

    ``forward(image [1,3,H,W], keys [N,Ck], biases [G,N], values [N,K*Cv], cohort [K])`` returns
    ``(probs [K+1,H,W], key [Ck,H/16,W/16], f16 [1,C16,H/16,W/16])``; ``encode_value`` and ``encode_key``
    produce what the memory stores.
    """

    def __init__(self, net: STCN, top_k: int = 20, chunk_elements: int = 1 << 25) -> None:
        super().__init__()
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.net = net
        self.top_k = top_k
        self.chunk_elements = chunk_elements

    def forward(self, image: Tensor, keys: Tensor, biases: Tensor, values: Tensor,
                cohort: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        k16, f16_thin, f16, f8, f4 = self.net.encode_key(image)
        h, w = k16.shape[2], k16.shape[3]
        query = k16[0].reshape(k16.shape[1], h * w)
        readout = read_memory(query, keys, biases, values, cohort, self.top_k, self.chunk_elements)
        readout = readout.reshape(1, readout.shape[0], readout.shape[1], h, w).to(f16_thin.dtype)
        logits = self.net.decode(readout, f16_thin, f8, f4)
        probs = aggregate(torch.sigmoid(logits[0].float()), 0)
        return probs, k16[0], f16

    @torch.jit.export
    def encode_key(self, image: Tensor) -> Tuple[Tensor, Tensor]:
        """Key ``[Ck,h,w]`` and f16 ``[1,C16,h,w]`` of a frame (for annotated frames)."""
        k16, _, f16, _, _ = self.net.encode_key(image)
        return k16[0], f16

    @torch.jit.export
    def encode_value(self, image: Tensor, f16: Tensor, masks: Tensor) -> Tensor:
        """Values ``[K,Cv,h,w]`` of a frame from its object probabilities ``masks [K,H,W]``."""
        return self.net.encode_value(image, f16, masks.unsqueeze(0))[0]


def compile_core(core: SegmentationCore, mode: str) -> nn.Module:
    """``none`` (eager), ``script`` (``torch.jit.script``) or ``compile`` (``torch.compile`` of forward)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}; choose one of {', '.join(COMPILE_MODES)}")
    if mode == "script":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.script(core)
    if mode == "compile":
        compiled = torch.compile(core, dynamic=True)
        return compiled
    return core


@functools.cache
def cpu_has_native_bf16() -> bool | None:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); None where ``/proc/cpuinfo`` is absent."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            flags = next((line for line in file if line.startswith("flags")), "").split()
    except OSError:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(device: torch.device, precision: str) -> str:
    """``auto``: bf16 where the hardware computes it natively (a CPU with AVX-512 BF16 or AMX, a CUDA device
    that supports bf16), fp32 elsewhere; any other setting is returned as it is (after validation)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def weight_dtype(precision: str) -> torch.dtype | None:
    """The dtype weights are stored in for ``precision`` (cast once, not by autocast on every frame)."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def warn_if_bf16_is_emulated(device: torch.device, precision: str) -> None:
    """bf16 autocast on a CPU without native bf16 converts every operand: it is several times slower."""
    if precision == "bf16" and device.type == "cpu" and cpu_has_native_bf16() is False:
        warnings.warn("precision=bf16 on a CPU without AVX-512 BF16 or AMX is emulated and several times slower "
                      "than fp32 (10x on an AVX2 CPU in this project's benchmark): use precision=fp32 or auto here",
                      stacklevel=3)


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for ``bf16`` (CPU and CUDA) or ``fp16`` (CUDA only); ``fp32`` runs without autocast;
    ``auto`` as :func:`resolve_precision` decides."""
    precision = resolve_precision(device, precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision=fp16 needs a CUDA device; use precision=bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)
