"""Label maps as PNG files (palette PNG, DAVIS convention: pixel value = object id, 255 = void)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from stcnbuf.io.atomic import atomic_write


def _davis_palette() -> bytes:
    """The 256-colour palette of DAVIS / PASCAL VOC annotations (id 1 red, 2 green, 3 yellow, ...)."""
    palette = bytearray()
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += bytes((r, g, b))
    return bytes(palette)


DAVIS_PALETTE = _davis_palette()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as ``H×W×3`` uint8 RGB, with a clear error for missing or unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from error


def require_size(path: str | os.PathLike, size: Tuple[int, int], allowed: Sequence[Tuple[int, int]]) -> None:
    """Refuse a mask ``path`` of ``size`` (``H, W``) that is none of the ``allowed`` sizes (the video's first;
    none: any size), before anything of that size is allocated."""
    if allowed and tuple(size) not in {tuple(a) for a in allowed}:
        height, width = allowed[0]
        raise ValueError(f"{path} is {size[1]}×{size[0]} but the video is {width}×{height} (width×height): give the "
                         "mask at the video's size")


def image_size(path: str | os.PathLike) -> Tuple[int, int]:
    """``(H, W)`` of an image from its header (nothing decoded)."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except FileNotFoundError as error:
        raise FileNotFoundError(f"mask not found: {path}") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"cannot read mask {path}: {error}") from error


def _read_mask(path: str | os.PathLike, decode: Callable[[Image.Image, Path], np.ndarray]) -> np.ndarray:
    """``decode`` of the image at ``path``, with clear errors for missing and unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask not found: {path}")
    try:
        with Image.open(path) as image:
            return decode(image, path)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"cannot read mask {path}: {error}") from error


def _label_map(image: Image.Image, path: Path) -> np.ndarray:
    if image.mode == "P":
        return np.array(image, dtype=np.uint8)
    if image.mode in ("L", "1", "I", "I;16"):
        array = np.array(image)
        if array.max(initial=0) > 255:
            raise ValueError(f"{path} holds ids above 255; save it as an 8-bit palette PNG")
        return array.astype(np.uint8)
    raise ValueError(f"{path} is a {image.mode} image; expected a palette (P) or grayscale (L) label PNG "
                     "whose pixel values are object ids")


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """A label map ``H×W`` uint8 from a palette (``P``) or grayscale (``L``/``1``) PNG.

    Palette PNGs give their indices (object ids); grayscale ones their values (DAVIS 2016 masks are 0/255).
    Colour (RGB) masks are refused: their colours would have to be mapped to ids first.
    """
    return _read_mask(path, _label_map)


def _grey_levels(image: Image.Image, path: Path) -> np.ndarray:
    if image.mode == "P":
        return (np.array(image, dtype=np.uint8) > 0).astype(np.uint8) * 255
    return np.array(image.convert("L"), dtype=np.uint8)


def read_grey_mask(path: str | os.PathLike) -> np.ndarray:
    """A single-object mask ``H×W`` uint8 in 0-255: a grayscale PNG's grey levels (soft edges kept, as STCN reads
    its static image sets with ``convert('L')``), a palette PNG's nonzero pixels as 255."""
    return _read_mask(path, _grey_levels)


def write_label_png(path: str | os.PathLike, labels: np.ndarray, palette: bytes = DAVIS_PALETTE) -> Path:
    """Write a label map ``H×W`` (ids 0-255) as a palette PNG, atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"a label map must be H×W, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"label ids must be in 0..255 for a PNG, got {labels.min()}..{labels.max()}")
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(palette)
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
