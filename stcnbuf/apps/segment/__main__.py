"""``python -m stcnbuf.apps.segment video=FILE [init=mask|maskrcnn|click] [overrides]`` (configs/segment.yaml), the same
as ``stcnbuf-segment``."""

from stcnbuf.apps.cli import segment

if __name__ == "__main__":
    segment()
