"""``python -m stcnbuf.apps.export FORMAT MASKS.rle.jsonl OUT [--video VIDEO]``: the masks in another layout;
``python -m stcnbuf.apps.export onnx CHECKPOINT FOLDER [--height H --width W]``: the networks as ONNX files.

Formats: ``davis`` (palette PNGs, one label map per frame), ``sav`` (binary PNGs ``<object:03d>/<frame>.png``),
``youtube-vis`` (a results JSON with an RLE per object and frame), ``rgba`` (per object, the frames as RGBA
PNGs with the mask as alpha; needs the video), ``matte`` (per object, a white-on-black matte video ``<object:03d>.mp4``).
Frame names are the video's (``--video``), else ``00000``, ``00001``, ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from tqdm import tqdm

from stcnbuf.apps.export.formats import (write_matte_videos, write_object_pngs, write_palette_pngs, write_rgba_mattes,
                                         youtube_vis_results)
from stcnbuf.apps.segment.view import reader_options
from stcnbuf.datasets.video import VideoSource
from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.io.rle import read_rle_file

FORMATS = ("davis", "sav", "youtube-vis", "rgba", "matte", "onnx")
NEEDS_VIDEO = ("rgba",)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.apps.export", description=__doc__.split("\n")[0])
    parser.add_argument("format", choices=FORMATS)
    parser.add_argument("masks", type=Path, help="masks.rle.jsonl (of the segment app, or any stcnbuf-rle file); "
                                                 "onnx: the checkpoint")
    parser.add_argument("out", type=Path, help="output folder (youtube-vis: the JSON file)")
    parser.add_argument("--height", type=int, default=480, help="onnx: example frame height (a multiple of 16)")
    parser.add_argument("--width", type=int, default=864, help="onnx: example frame width (a multiple of 16)")
    parser.add_argument("--video", type=Path, default=None,
                        help="the video or frame folder of the masks: frame names (folders) and the frames for rgba; "
                             "its frame selection is read from segment.json beside MASKS")
    parser.add_argument("--video-id", type=int, default=1, help="youtube-vis: the video's id in the dataset")
    parser.add_argument("--category-id", type=int, default=1, help="youtube-vis: the objects' category")
    args = parser.parse_args(argv)
    if args.format == "onnx":
        return _export_networks(args.masks, args.out, args.height, args.width)
    try:
        rle = read_rle_file(args.masks)
        if args.format in NEEDS_VIDEO and args.video is None:
            raise ValueError(f"{args.format} needs the frames: give --video")
        source = VideoSource(args.video, shorter_side=None, **reader_options(args.masks, {})) if args.video else None
        names = [source.frame_name(i) for i in range(len(source))] if source else \
            [f"{i:05d}" for i in range(rle.num_frames)]
        if len(names) != rle.num_frames:
            raise ValueError(f"{args.masks} has {rle.num_frames} frames, the video {args.video} {len(names)}")
        with tqdm(total=rle.num_frames, desc=args.format, unit="frame") as bar:
            if args.format == "davis":
                written = write_palette_pngs(rle, args.out, names, bar.update)
            elif args.format == "sav":
                written = write_object_pngs(rle, args.out, names, bar.update)
            elif args.format == "youtube-vis":
                results = youtube_vis_results(rle, args.video_id, args.category_id)
                written = atomic_write_text(args.out, json.dumps(results))
            elif args.format == "rgba":
                written = write_rgba_mattes(rle, source, args.out, bar.update)
            else:
                write_matte_videos(rle, args.out, source.fps if source else None, bar.update)
                written = args.out
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.masks}: {rle.num_frames} frames, objects {rle.object_ids} -> {written}")
    return 0


def _export_networks(checkpoint: Path, out: Path, height: int, width: int) -> int:
    from stcnbuf.engine.build import build_network
    from stcnbuf.apps.export.onnx import export_onnx

    try:
        paths = export_onnx(build_network({"checkpoint": str(checkpoint), "net": {}}), out, height, width)
    except (OSError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{checkpoint} -> {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
