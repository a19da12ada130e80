"""The record of a run folder: what configuration its results belong to."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Dict, List

from stcnbuf.io.atomic import atomic_write_text


def fingerprint(config: Dict[str, Any]) -> str:
    """A stable hash of everything that determines a run's results."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _flatten(value: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(value, dict):
        out: Dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def config_differences(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """``key: old -> new`` for every leaf that differs."""
    a, b = _flatten(old), _flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def claim_folder(record: Path, config: Dict[str, Any], keep: bool, fix: str,
                 discard: Callable[[bool], None] = lambda same: None) -> bool:
    """Record that the folder of ``record`` holds the results of ``config``.

    Returns whether results already there belong to this configuration (and may be kept). Results of another
    configuration raise ``ValueError`` listing the differences and ``fix`` when ``keep``. ``discard(same)``
    removes what the caller will not keep; it runs before the record is written, so a kill in between never
    leaves old results under the new record.
    """
    record = Path(record)
    stamp = fingerprint(config)
    same = False
    if record.is_file():
        try:
            previous = json.loads(record.read_text())
        except ValueError as error:
            raise ValueError(f"{record} is not a readable run record ({error}): delete it to start over") from error
        same = previous.get("fingerprint") == stamp
        if not same and keep:
            changes = config_differences(previous.get("config", {}), config)
            raise ValueError(f"{record.parent} holds results of another configuration "
                             f"({'; '.join(changes[:8]) or 'unknown'}): {fix}")
    discard(same)
    atomic_write_text(record, json.dumps({"fingerprint": stamp, "config": config}, indent=1, default=str))
    return same
