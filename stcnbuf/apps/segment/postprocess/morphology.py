"""Per-object mask clean-up on run-length encoded masks (no full decode)."""

from __future__ import annotations

import math

from rlemasklib import RLEMask


def largest_component(mask: RLEMask) -> RLEMask:
    """The largest 8-connected component of ``mask`` (an empty mask stays empty)."""
    return mask.largest_connected_component(connectivity=8)


def close(mask: RLEMask, radius: int) -> RLEMask:
    """Morphological closing with a disk of ``radius`` pixels, the outside of the image counting as background.

    (rlemasklib's erosion counts the outside as foreground, which would grow masks near the image border
    towards it; padding by ``radius`` first avoids that.)
    """
    height, width = mask.shape
    padded = mask.pad(radius, radius, radius, radius)
    return padded.closing("circle", kernel_size=2 * radius + 1).crop([radius, radius, width, height])


def clip_to_box(mask: RLEMask, reference: RLEMask, margin: float) -> RLEMask:
    """``mask`` inside ``reference``'s bounding box enlarged by ``margin`` × its size on each side.

    An empty ``reference`` leaves ``mask`` unchanged.
    """
    if margin < 0:
        raise ValueError(f"box margin must be >= 0, got {margin}")
    if reference.shape != mask.shape:
        raise ValueError(f"reference has shape {reference.shape}, the mask {mask.shape}")
    if not reference.any():
        return mask
    x, y, w, h = (float(v) for v in reference.bbox())
    x0, y0 = max(0, math.floor(x - margin * w)), max(0, math.floor(y - margin * h))
    x1, y1 = min(mask.shape[1], math.ceil(x + w + margin * w)), min(mask.shape[0], math.ceil(y + h + margin * h))
    return mask & RLEMask.from_bbox([x0, y0, x1 - x0, y1 - y0], imshape=mask.shape)


def clean_mask(mask: RLEMask, close_radius: int = 0, keep_largest: bool = False, fill_holes_area: int = 0,
               box_margin: float | None = None, reference: RLEMask | None = None) -> RLEMask:
    """Clean one object mask; the steps run in this order, each only when asked for:

    1. clip to ``reference``'s bounding box enlarged by ``box_margin`` (a fraction of the box size on each
       side; e.g. the previous frame's mask; nothing happens when ``reference`` is None or empty);
    2. morphological closing with a disk of radius ``close_radius`` (closes gaps up to about 2 × radius);
    3. keep only the largest (8-connected) component;
    4. fill holes: 4-connected background regions smaller than ``fill_holes_area`` pixels (regions touching
       the image border included).
    """
    if close_radius < 0 or fill_holes_area < 0:
        raise ValueError(f"close_radius and fill_holes_area must be >= 0, got {close_radius}, {fill_holes_area}")
    if box_margin is not None and reference is not None:
        mask = clip_to_box(mask, reference, box_margin)
    if close_radius:
        mask = close(mask, close_radius)
    if keep_largest:
        mask = largest_component(mask)
    if fill_holes_area:
        mask = mask.fill_small_holes(min_size=fill_holes_area, connectivity=4)
    return mask
