"""Shards: a fixed split of a run's items (sequences, videos) between jobs that share one output folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Sequence, TypeVar

Item = TypeVar("Item")


def result_folder(root: Path, shard: Optional[str]) -> Path:
    """Where a run's summary and ``.hydra/`` go: ``root``, or ``root/shards/I-of-N`` for a shard."""
    return Path(root) if shard is None else Path(root) / "shards" / str(shard).replace("/", "-of-")


def shard_of(names: Sequence[Item], shard: Optional[str]) -> List[Item]:
    """The items of shard ``"I/N"`` (``0 <= I < N``): every N-th of ``names`` from the I-th; all of them without
    a shard. The N shards split the items without overlap."""
    if shard is None:
        return list(names)
    match = re.fullmatch(r"(\d+)/(\d+)", str(shard))
    if not match or not int(match[1]) < int(match[2]):
        raise ValueError(f"shard={shard!r}: give I/N with 0 <= I < N (e.g. shard=0/4 ... shard=3/4)")
    return list(names)[int(match[1])::int(match[2])]
