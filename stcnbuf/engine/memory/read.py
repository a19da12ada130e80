"""Memory reads: L2 affinity, top-k softmax and the weighted sum of values.

Keys are stored as rows ``[N, Ck]`` with a per-row bias ``-|k|^2 / sqrt(Ck)`` (``-inf`` for rows that must
not be read); the affinity of row i and query position j is ``bias_i + 2 k_i·q_j / sqrt(Ck)``, i.e. the
negative squared L2 distance up to ``|q_j|^2``, which cancels in the softmax over i.
"""

from __future__ import annotations

import math
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor


def key_bias(keys: Tensor) -> Tensor:
    """Per-row affinity bias ``-|k|^2 / sqrt(Ck)`` of key rows ``[N, Ck]``."""
    return -keys.float().pow(2).sum(1) / math.sqrt(keys.shape[1])


def topk_readout(query: Tensor, keys: Tensor, bias: Tensor, values: Tensor, top_k: int,
                 chunk_elements: int = 1 << 25) -> Tensor:
    """Top-k memory read that touches only the k selected values.

    Args:
        query: ``[Ck, HW]`` query key.
        keys: ``[N, Ck]`` memory keys.
        bias: ``[N]`` affinity bias (see :func:`key_bias`); ``-inf`` excludes a row.
        values: ``[N, D]`` memory values (all objects side by side).
        top_k: number of memory entries kept per query position.
        chunk_elements: upper bound on the affinity entries held at once (query positions are chunked).

    Returns:
        ``[HW, D]``: for every query position the softmax-weighted sum of its top-k values.
    """
    n = keys.shape[0]
    k = min(top_k, n)
    query_rows = query.t()
    keys_t = keys.t()
    scale = 2.0 / math.sqrt(keys.shape[1])
    chunk = max(1, chunk_elements // max(n, 1))
    indices: List[Tensor] = []
    weights: List[Tensor] = []
    for start in range(0, query_rows.shape[0], chunk):
        affinity = torch.addmm(bias.to(query_rows.dtype).unsqueeze(0), query_rows[start:start + chunk], keys_t,
                               beta=1.0, alpha=scale)
        top_values, top_indices = torch.topk(affinity, k, dim=1, sorted=False)
        weights.append(torch.softmax(top_values.float(), dim=1))
        indices.append(top_indices)
    index = indices[0] if len(indices) == 1 else torch.cat(indices, 0)
    weight = weights[0] if len(weights) == 1 else torch.cat(weights, 0)
    return F.embedding_bag(index, values, per_sample_weights=weight.to(values.dtype), mode="sum")


def dense_topk_readout(query: Tensor, keys: Tensor, values: Tensor, top_k: int) -> Tensor:
    """Reference read as in the original STCN: dense ``[N, HW]`` affinity, top-k scattered back, matmul.

    Slow and memory-hungry (it is what :func:`topk_readout` avoids); kept for testing. Returns ``[HW, D]``.
    """
    scale = math.sqrt(keys.shape[1])
    affinity = (2 * keys @ query - keys.pow(2).sum(1, keepdim=True)) / scale
    top_values, top_indices = torch.topk(affinity, min(top_k, keys.shape[0]), dim=0)
    sparse = torch.zeros_like(affinity).scatter_(0, top_indices, torch.softmax(top_values, dim=0))
    return (values.t() @ sparse).t()


def softmax_readout(query: Tensor, keys: Tensor, values: Tensor) -> Tensor:
    """Full-softmax read used in training, batched.

    ``query [B, Ck, HW]``, ``keys [B, Ck, N]``, ``values [B, D, N]`` -> ``[B, D, HW]``.
    """
    scale = math.sqrt(keys.shape[1])
    affinity = (2 * keys.transpose(1, 2) @ query - keys.pow(2).sum(1).unsqueeze(2)) / scale
    return values @ torch.softmax(affinity, dim=1)


def read_memory(query: Tensor, keys: Tensor, biases: Tensor, values: Tensor, cohort: Tensor, top_k: int,
                chunk_elements: int = 1 << 25) -> Tensor:
    """Top-k read for K objects grouped in cohorts.

    ``query [Ck, HW]``, ``keys [N, Ck]``, ``biases [G, N]`` (one row per cohort), ``values [N, K*Cv]``,
    ``cohort [K]`` (each object's bias row) -> ``[K, Cv, HW]``.
    """
    num_objects = cohort.shape[0]
    hw = query.shape[1]
    value_dim = values.shape[1] // num_objects
    if biases.shape[0] == 1:
        out = topk_readout(query, keys, biases[0], values, top_k, chunk_elements)
        return out.view(hw, num_objects, value_dim).permute(1, 2, 0)
    result = torch.empty(num_objects, value_dim, hw, device=values.device, dtype=values.dtype)
    for g in range(biases.shape[0]):
        out = topk_readout(query, keys, biases[g], values, top_k, chunk_elements)
        members = torch.nonzero(cohort == g).flatten()
        result.index_copy_(0, members, out.view(hw, num_objects, value_dim).permute(1, 2, 0).index_select(0, members))
    return result
