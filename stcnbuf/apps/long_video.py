"""``stcnbuf-long-video`` (``python -m stcnbuf.apps.long_video``): long sequences from short ones, as the
long-time video benchmark LV3 does (:mod:`stcnbuf.datasets.long_video`).

    stcnbuf-long-video --source DAVIS/2017/trainval --out data/davis17-lv3 --laps 3 [--drift 0.1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from stcnbuf.datasets.long_video import expand_dataset


def main(argv: Optional[List[str]] = None) -> int:
    """``stcnbuf-long-video``: write the long replay of a DAVIS folder."""
    parser = argparse.ArgumentParser(prog="stcnbuf-long-video", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--source", type=Path, required=True, help="a DAVIS folder (JPEGImages, Annotations, ImageSets)")
    parser.add_argument("--out", type=Path, required=True, help="the DAVIS 2017 folder to write")
    parser.add_argument("--laps", type=int, default=3, help="forward/backward laps (LV3: 3)")
    parser.add_argument("--drift", type=float, default=0.0, help="photometric and zoom change per lap (e.g. 0.1)")
    parser.add_argument("--year", type=int, default=None, help="the source's DAVIS year (default: detected)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--sequences", nargs="*", default=None)
    args = parser.parse_args(argv)
    try:
        counts = expand_dataset(args.source, args.out, args.laps, args.drift, args.year, args.split, args.sequences)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(f"{name}: {n} frames" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
