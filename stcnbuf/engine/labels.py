"""Label-map conventions shared by every layer: background 0, void 255, and the masks given on a frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch

#: Label of "void" pixels in DAVIS annotations; never an object.
VOID_LABEL = 255


def object_ids_in(label_map: np.ndarray | torch.Tensor, void: Optional[int] = VOID_LABEL) -> List[int]:
    """Object ids present in a label map (0 = background and ``void`` excluded; ``None``: every other id is an
    object, as in RLE files, which hold each object's mask by id), ascending."""
    values = torch.unique(torch.as_tensor(np.asarray(label_map))).tolist()
    return [int(v) for v in values if v not in (0, void)]


def void_hint(label_map: np.ndarray) -> str:
    """For a mask without objects: a note when it holds void (255) pixels, the usual cause (a 0/255 mask, or an
    object given id 255)."""
    if not (np.asarray(label_map) == VOID_LABEL).any():
        return ""
    return (f" (its pixels are 0 and {VOID_LABEL}, and {VOID_LABEL} means void, not an object: give objects ids "
            f"1..{VOID_LABEL - 1}, e.g. save the mask with 0/1 values or as a palette PNG of ids)")


@dataclass
class Annotation:
    """Masks given on one frame: the label map and the object ids taken from it (other ids are ignored;
    ``None``: every id present)."""

    frame: int
    labels: np.ndarray
    object_ids: Optional[List[int]]
