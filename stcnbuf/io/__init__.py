"""Masks in and out: palette PNG label maps, atomic file writes."""

from stcnbuf.io.atomic import atomic_write_bytes, atomic_write_text
from stcnbuf.io.masks import DAVIS_PALETTE, read_image, read_label_png, write_label_png

__all__ = ["DAVIS_PALETTE", "atomic_write_bytes", "atomic_write_text", "read_image", "read_label_png",
           "write_label_png"]
