"""``python -m stcnbuf.apps.segment.postprocess IN.rle.jsonl OUT.rle.jsonl [options]``: clean the masks of an RLE file."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from stcnbuf.apps.segment.postprocess import postprocess
from stcnbuf.io.rle import RLEFile, read_rle_file, write_rle_file


def _non_negative(kind: type) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names it in "invalid int value" messages
    return parse


def _area(rle: RLEFile) -> int:
    return sum(m.area() for objects in rle.frames.values() for m in objects.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stcnbuf.apps.segment.postprocess",
        description="Clean the object masks of a stcnbuf-rle file. Per frame, in this order: box clip, closing, "
                    "largest component, hole filling; then the temporal intersection.")
    parser.add_argument("input", help="RLE mask file (stcnbuf-rle JSON lines)")
    parser.add_argument("output", help="where to write the cleaned file (may be the input)")
    parser.add_argument("--close", type=_non_negative(int), default=0, metavar="R",
                        help="morphological closing with a disk of radius R pixels")
    parser.add_argument("--largest-component", action="store_true", help="keep only each mask's largest component")
    parser.add_argument("--fill-holes", type=_non_negative(int), default=0, metavar="A",
                        help="fill holes smaller than A pixels")
    parser.add_argument("--box-margin", type=_non_negative(float), default=None, metavar="M",
                        help="clip each mask to the previous frame's box enlarged by M (a fraction) on each side")
    parser.add_argument("--temporal-window", type=_non_negative(int), default=0, metavar="W",
                        help="intersect each mask with the same object's masks in the W frames before and after")
    args = parser.parse_args(argv)
    try:
        rle = read_rle_file(args.input)
        result = postprocess(rle, close_radius=args.close, keep_largest=args.largest_component,
                             fill_holes_area=args.fill_holes, box_margin=args.box_margin,
                             temporal_window=args.temporal_window)
        path = write_rle_file(args.output, result)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    steps = [f"clip to the previous box +{args.box_margin:g}" if args.box_margin is not None else "",
             f"closing r={args.close}" if args.close else "",
             "largest component" if args.largest_component else "",
             f"fill holes < {args.fill_holes} px" if args.fill_holes else "",
             f"temporal intersection ±{args.temporal_window}" if args.temporal_window else ""]
    print(f"{args.input}: {len(rle.frames)} frames, {len(rle.object_ids)} objects; "
          f"{', '.join(s for s in steps if s) or 'no operation'}; "
          f"mask area {_area(rle)} -> {_area(result)} px; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
