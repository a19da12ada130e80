"""Frame orderings for burn-in passes."""

from __future__ import annotations

from typing import List

import torch

ORDERINGS = ("none", "random", "reverse", "strided")


def bit_reversal_order(n: int) -> List[int]:
    """A low-discrepancy permutation of ``range(n)``: the base-2 van der Corput sequence.

    Every prefix is spread evenly over the range (the first 2 halve it, the first 4 quarter it, ...).
    """
    if n <= 0:
        return []
    bits = max(1, (n - 1).bit_length())
    order = []
    for i in range(1 << bits):
        j = int(format(i, f"0{bits}b")[::-1], 2)
        if j < n:
            order.append(j)
    return order


def burn_in_order(num_frames: int, init_frame: int, ordering: str, seed: int, pass_index: int) -> List[int]:
    """Frames visited by one burn-in pass (every frame but the annotated one).

    ``none``: temporal order; ``reverse``: backwards; ``random``: a permutation drawn from ``seed`` and
    the pass index; ``strided``: low-discrepancy (:func:`bit_reversal_order`), rotated by the pass index
    so that successive passes start at different places.
    """
    if ordering not in ORDERINGS:
        raise ValueError(f"unknown ordering {ordering!r}; choose one of {', '.join(ORDERINGS)}")
    frames = [i for i in range(num_frames) if i != init_frame]
    if ordering == "none":
        return frames
    if ordering == "reverse":
        return frames[::-1]
    if ordering == "random":
        generator = torch.Generator().manual_seed(seed * 1_000_003 + pass_index)
        return [frames[i] for i in torch.randperm(len(frames), generator=generator).tolist()]
    order = [frames[i] for i in bit_reversal_order(len(frames))]
    shift = int(radical_inverse(pass_index) * len(order))  # passes 0, 1, 2, 3... start at 0, 1/2, 1/4, 3/4...
    return order[shift:] + order[:shift]


def radical_inverse(index: int) -> float:
    """The base-2 van der Corput number of ``index`` (0, 1/2, 1/4, 3/4, 1/8, ...): evenly spread in [0, 1)."""
    value, scale = 0.0, 0.5
    while index:
        value, index, scale = value + scale * (index & 1), index >> 1, scale / 2
    return value
