"""DAVIS region similarity J, boundary accuracy F and per-object statistics, on boolean mask arrays.

Numerically equivalent to the official davis2017-evaluation kit (``db_eval_iou``, ``f_measure`` with
``bound_th=0.008``, ``db_statistics``) without void pixels, as its semi-supervised evaluation runs them.
Faster: F is computed on the bounding box of each frame's masks, which gives the same counts as the
whole frame.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

#: Boundary tolerance as a fraction of the image diagonal (the kit's ``bound_th``).
BOUND_TH = 0.008


def disk(radius: int) -> np.ndarray:
    """``skimage.morphology.disk``: a uint8 ``(2r+1)×(2r+1)`` grid, 1 where ``X² + Y² <= r²``."""
    grid = np.arange(-radius, radius + 1)
    return (grid[:, None] ** 2 + grid[None, :] ** 2 <= radius**2).astype(np.uint8)


def tolerance_radius(shape: tuple[int, int]) -> int:
    """Boundary tolerance in pixels for an ``H×W`` image: ``ceil(0.008 · sqrt(H² + W²))`` (8 at 854×480)."""
    return int(np.ceil(BOUND_TH * np.linalg.norm(shape)))


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """The kit's ``_seg2bmap`` on masks ``[..., H, W]``: a pixel is boundary where it differs from its east,
    south or south-east neighbour, counting only neighbours inside the image."""
    seg = np.asarray(seg, dtype=bool)
    b = np.zeros_like(seg)
    inner = seg[..., :-1, :-1]
    b[..., :-1, :-1] = (inner ^ seg[..., :-1, 1:]) | (inner ^ seg[..., 1:, :-1]) | (inner ^ seg[..., 1:, 1:])
    b[..., -1, :-1] = seg[..., -1, :-1] ^ seg[..., -1, 1:]
    b[..., :-1, -1] = seg[..., :-1, -1] ^ seg[..., 1:, -1]
    return b


def _as_stacks(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Both masks as bool ``[T, H, W]``, and the leading shape of the result (``()`` for single frames)."""
    gt, pred = np.asarray(gt, dtype=bool), np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape or gt.ndim not in (2, 3):
        raise ValueError(f"expected two masks [H, W] or [T, H, W] of one shape, got {gt.shape} and {pred.shape}")
    return gt.reshape(-1, *gt.shape[-2:]), pred.reshape(-1, *pred.shape[-2:]), gt.shape[:-2]


def _counts(masks: np.ndarray) -> np.ndarray:
    """Nonzero pixels per frame of ``[T, H, W]`` (a loop: far faster than ``count_nonzero(axis=...)``)."""
    return np.array([np.count_nonzero(mask) for mask in masks], dtype=np.int64)


def jaccard(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Region similarity per frame: ``|pred ∩ gt| / |pred ∪ gt|``, 1 where both are empty.

    Masks ``[T, H, W]`` give float64 ``[T]``; masks ``[H, W]`` a 0-d array.
    """
    gt, pred, lead = _as_stacks(gt, pred)
    inter = _counts(gt & pred)
    union = _counts(gt) + _counts(pred) - inter
    return np.divide(inter, union, out=np.ones(len(gt)), where=union > 0).reshape(lead)


def _f_frame(gt_b: np.ndarray, pred_b: np.ndarray, kernel: np.ndarray) -> float:
    """F of one frame from the two boundary maps (bool ``H×W``) and the tolerance disk."""
    n_gt, n_pred = np.count_nonzero(gt_b), np.count_nonzero(pred_b)
    if n_gt == 0 or n_pred == 0:
        precision, recall = float(n_pred == 0), float(n_gt == 0)
    else:
        gt_dil = cv2.dilate(gt_b.view(np.uint8), kernel).view(bool)
        pred_dil = cv2.dilate(pred_b.view(np.uint8), kernel).view(bool)
        precision = np.count_nonzero(pred_b & gt_dil) / n_pred
        recall = np.count_nonzero(gt_b & pred_dil) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def boundary_f(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Boundary F-measure per frame, the kit's ``f_measure(foreground_mask=pred, gt_mask=gt)``.

    Boundary pixels of one mask match when a boundary pixel of the other lies within the disk of radius
    ``tolerance_radius(H, W)``. Masks ``[T, H, W]`` give float64 ``[T]``; masks ``[H, W]`` a 0-d array.
    """
    gt, pred, lead = _as_stacks(gt, pred)
    kernel = disk(tolerance_radius(gt.shape[-2:]))
    rows, cols = gt.any(axis=2) | pred.any(axis=2), gt.any(axis=1) | pred.any(axis=1)
    f = np.ones(len(gt))  # where both masks are empty
    for t in np.flatnonzero(rows.any(axis=1)):
        # Outside the masks' bounding box grown by one pixel both boundary maps are zero, and dilations only
        # matter at boundary pixels: the box gives the same counts as the whole frame.
        ys, xs = np.flatnonzero(rows[t]), np.flatnonzero(cols[t])
        box = slice(max(ys[0] - 1, 0), ys[-1] + 2), slice(max(xs[0] - 1, 0), xs[-1] + 2)
        f[t] = _f_frame(seg2bmap(gt[t][box]), seg2bmap(pred[t][box]), kernel)
    return f.reshape(lead)


def _nanmean(values: np.ndarray) -> float:
    """``np.nanmean`` without the warning for empty or all-NaN input (which gives NaN), as in the kit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return float(np.nanmean(values))


def _decay(values: np.ndarray, edges: np.ndarray) -> float:
    """Mean of the first of 4 bins minus mean of the last; bin ``i`` is ``values[edges[i] : edges[i+1] + 1]``."""
    first, last = values[int(edges[0]):int(edges[1]) + 1], values[int(edges[3]):int(edges[4]) + 1]
    return _nanmean(first) - _nanmean(last)


def _bin_edges(num_values: int) -> np.ndarray:
    """The kit's 5 decay bin edges: ``round(linspace(1, T, 5) + 1e-10) - 1``, as int64."""
    return (np.round(np.linspace(1, num_values, 5) + 1e-10) - 1).astype(np.int64)


def statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, recall, decay) of one object's per-frame J or F values, as the kit's ``db_statistics``.

    Recall is the fraction of values above 0.5. Decay uses correct bin edges for any length; the kit's
    differ from frame 257 on (see ``official_decay``).
    """
    values = np.asarray(values, dtype=np.float64)
    return _nanmean(values), _nanmean(values > 0.5), _decay(values, _bin_edges(len(values)))


def official_decay(values: np.ndarray) -> float:
    """Decay exactly as the official kit computes it: its bin edges are cast to uint8 and wrap modulo 256.

    Equal to ``statistics(values)[2]`` up to 256 values; wrong beyond (e.g. for 400 values the last bin is
    ``values[43:144]`` instead of ``values[299:400]``). Under NumPy 2 the kit's uint8 ``edge + 1`` also
    overflows at exactly 256 values (last bin empty, NaN); this follows NumPy 1, where it does not.
    """
    values = np.asarray(values, dtype=np.float64)
    return _decay(values, _bin_edges(len(values)).astype(np.uint8))
