"""The masks of an RLE file in the layouts other tools read.

- :func:`write_palette_pngs`: DAVIS palette PNGs, one label map per frame (pixel = object id).
- :func:`write_object_pngs`: one binary PNG per object and frame, ``<object:03d>/<frame>.png`` (SA-V, SAM 2's
  ``--per_obj_png_file``).
- :func:`youtube_vis_results`: the YouTube-VIS / COCO-video results JSON, one entry per object with an RLE per
  frame (``null`` where the object is absent).
- :func:`write_rgba_mattes`: per object, the frames as RGBA PNGs whose alpha is the mask (cut-outs).
- :func:`write_matte_videos`: per object, a matte video (white where the object is) for video editors' track
  mattes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from stcnbuf.apps.segment.render import check_fit, even_frame
from stcnbuf.datasets.video import VideoSource
from stcnbuf.io.atomic import atomic_write
from stcnbuf.io.masks import write_label_png
from stcnbuf.io.rle import RLEFile, rle_to_json

BINARY_PALETTE = bytes([0, 0, 0, 255, 255, 255]) + bytes(254 * 3)  #: 0 black, 1 white
Progress = Optional[Callable[[int], None]]


def object_folder(object_id: int) -> str:
    """``001``, ``002``, ...: the per-object folder names of SA-V."""
    return f"{object_id:03d}"


def write_palette_pngs(rle: RLEFile, out: Path, names: Sequence[str], progress: Progress = None) -> Path:
    """``out/<name>.png`` for every frame: a DAVIS palette label map (ids 1..254; 0 background)."""
    for index in range(rle.num_frames):
        write_label_png(Path(out) / f"{names[index]}.png", rle.label_map(index))
        if progress:
            progress(1)
    return Path(out)


def write_object_pngs(rle: RLEFile, out: Path, names: Sequence[str], progress: Progress = None) -> Path:
    """``out/<object:03d>/<name>.png`` for every object and frame: 0 background, 1 the object (palette PNG,
    shown black and white), an empty mask where the object is absent."""
    for index in range(rle.num_frames):
        for object_id in rle.object_ids:
            write_label_png(Path(out) / object_folder(object_id) / f"{names[index]}.png",
                            rle.mask(index, object_id).astype(np.uint8), palette=BINARY_PALETTE)
        if progress:
            progress(1)
    return Path(out)


def youtube_vis_results(rle: RLEFile, video_id: int = 1, category_id: int = 1,
                        score: float = 1.0) -> List[Dict[str, Any]]:
    """YouTube-VIS results: per object ``{"video_id", "category_id", "score", "segmentations"}`` with one COCO
    RLE ``{"size": [h, w], "counts"}`` per frame, ``None`` where the object is absent."""
    results = []
    for object_id in rle.object_ids:
        segmentations = []
        for index in range(rle.num_frames):
            mask = rle.frames.get(index, {}).get(object_id)
            segmentations.append(rle_to_json(mask) if mask is not None and mask.any() else None)
        results.append({"video_id": int(video_id), "category_id": int(category_id), "score": float(score),
                        "object_id": int(object_id), "segmentations": segmentations})
    return results


def write_rgba_mattes(rle: RLEFile, source: VideoSource, out: Path, progress: Progress = None) -> Path:
    """``out/<object:03d>/<frame>.png``: each frame as RGBA, the alpha channel 255 on the object, 0 elsewhere."""
    check_fit(rle, source)
    for index, frame in enumerate(source.iterate_original(range(len(source)))):
        for object_id in rle.object_ids:
            alpha = rle.mask(index, object_id).astype(np.uint8) * 255
            image = Image.fromarray(np.dstack([frame, alpha]), mode="RGBA")
            atomic_write(Path(out) / object_folder(object_id) / f"{source.frame_name(index)}.png",
                         lambda tmp: image.save(tmp, format="PNG"))
        if progress:
            progress(1)
    return Path(out)


def write_matte_videos(rle: RLEFile, out: Path, fps: Optional[float] = None, progress: Progress = None) -> List[Path]:
    """``out/<object:03d>.mp4`` per object: white where the object is, black elsewhere, one frame per mask frame
    at ``fps`` (default: the file's, else 25; odd sizes padded by one pixel). Each file appears complete or not
    at all."""
    import framepump

    rate = fps or rle.fps or 25.0
    Path(out).mkdir(parents=True, exist_ok=True)
    finals = [Path(out) / f"{object_folder(i)}.mp4" for i in rle.object_ids]
    partials = [path.with_name(f".{path.stem}.partial.mp4") for path in finals]
    writers = [framepump.VideoWriter(path, fps=rate) for path in partials]
    finished = False
    try:
        for index in range(rle.num_frames):
            for object_id, writer in zip(rle.object_ids, writers):
                matte = rle.mask(index, object_id).astype(np.uint8) * 255
                writer.append_data(even_frame(np.repeat(matte[..., None], 3, axis=2)))
            if progress:
                progress(1)
        finished = True
    finally:
        for writer in writers:
            writer.close()
        for partial, final in zip(partials, finals):
            if finished:
                os.replace(partial, final)
            else:
                partial.unlink(missing_ok=True)
    return finals
