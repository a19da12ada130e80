"""``python -m stcnbuf.segment video=FILE [init=mask|maskrcnn|click] [overrides]`` (configs/segment.yaml), the same
as ``stcnbuf-segment``."""

from stcnbuf.cli import segment

if __name__ == "__main__":
    segment()
