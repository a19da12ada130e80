"""Look at saved masks: ``python -m stcnbuf.apps.segment.view MASKS.rle.jsonl VIDEO [--out overlay.mp4]``.

With ``--out`` the overlay video is written; without it the frames play in a window (needs a display).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from stcnbuf.apps.segment.render import render_overlay
from stcnbuf.datasets.video import VideoSource
from stcnbuf.io.overlay import overlay
from stcnbuf.io.rle import read_rle_file


def show(rle, source: VideoSource) -> None:
    """Play the overlay in a matplotlib window (space pauses)."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.set_axis_off()
    image = None
    for index, frame in enumerate(source.iterate_original(range(len(source)))):
        picture = overlay(frame, rle.label_map(index), void=None)  # RLE: 255 is an object
        if image is None:
            image = axis.imshow(picture)
        else:
            image.set_data(picture)
        axis.set_title(f"frame {index}")
        plt.pause(1 / (source.fps or 25))
        if not plt.fignum_exists(figure.number):
            break


def reader_options(masks: Path, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """The frame selection the masks were made with: ``segment.json`` beside them (written by the app),
    then the options given on the command line."""
    options: Dict[str, Any] = {"constant_fps": None, "start": 0, "stop": None, "step": 1}
    record = masks.parent / "segment.json"
    if record.is_file():
        reader = json.loads(record.read_text()).get("config", {}).get("reader", {})
        options.update({k: reader[k] for k in options if k in reader})
    options.update({k: v for k, v in overrides.items() if v is not None})
    return options


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.apps.segment.view", description=__doc__.split("\n")[0])
    parser.add_argument("masks", type=Path, help="masks.rle.jsonl")
    parser.add_argument("video", type=Path, help="the video file or frame folder the masks belong to")
    parser.add_argument("--out", type=Path, default=None, help="write the overlay video here")
    selection = parser.add_argument_group("frame selection (default: as recorded in segment.json beside MASKS)")
    selection.add_argument("--constant-fps", type=float, default=None)
    selection.add_argument("--start", type=int, default=None)
    selection.add_argument("--stop", type=int, default=None)
    selection.add_argument("--step", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        rle = read_rle_file(args.masks)
        options = reader_options(args.masks, {"constant_fps": args.constant_fps, "start": args.start,
                                              "stop": args.stop, "step": args.step})
        source = VideoSource(args.video, None, options["constant_fps"], options["start"], options["stop"],
                             options["step"])
        if args.out is None:
            import matplotlib

            if matplotlib.get_backend().lower() == "agg":
                raise RuntimeError("no display to show the video on: use --out FILE to write the overlay video")
            show(rle, source)
        else:
            print(render_overlay(rle, source, args.out))
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
