"""Look at saved masks: ``python -m stcnbuf.segment.view MASKS.rle.jsonl VIDEO [--out overlay.mp4]``.

With ``--out`` the overlay video is written; without it the frames play in a window (needs a display).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from stcnbuf.data.video import VideoSource
from stcnbuf.io.overlay import overlay
from stcnbuf.io.rle import read_rle_file
from stcnbuf.segment.render import render_overlay


def show(rle, source: VideoSource) -> None:
    """Play the overlay in a matplotlib window (space pauses)."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.set_axis_off()
    image = None
    for index, frame in enumerate(source.iterate_original(range(len(source)))):
        picture = overlay(frame, rle.label_map(index))
        if image is None:
            image = axis.imshow(picture)
        else:
            image.set_data(picture)
        axis.set_title(f"frame {index}")
        plt.pause(1 / (source.fps or 25))
        if not plt.fignum_exists(figure.number):
            break


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.segment.view", description=__doc__.split("\n")[0])
    parser.add_argument("masks", type=Path, help="masks.rle.jsonl")
    parser.add_argument("video", type=Path, help="the video file or frame folder the masks belong to")
    parser.add_argument("--out", type=Path, default=None, help="write the overlay video here")
    args = parser.parse_args(argv)
    try:
        rle = read_rle_file(args.masks)
        source = VideoSource(args.video, shorter_side=None)
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
