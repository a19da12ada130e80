"""Exports of RLE mask files to the layouts other tools read (see :mod:`stcnbuf.apps.export.formats`)."""

from stcnbuf.apps.export.formats import (write_matte_videos, write_object_pngs, write_palette_pngs, write_rgba_mattes,
                                         youtube_vis_results)

__all__ = ["write_matte_videos", "write_object_pngs", "write_palette_pngs", "write_rgba_mattes",
           "youtube_vis_results"]
