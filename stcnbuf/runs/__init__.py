"""Run folders below the applications: configuration fingerprints and their differences, the record that
refuses mixed results, segmenter snapshots that a resumed run continues from, made-from markers (names load with
their modules when first used)."""

from stcnbuf.engine.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "MadeFrom": "markers", "claim_folder": "record", "config_differences": "record", "fingerprint": "record",
    "Snapshot": "snapshots", "SnapshotStore": "snapshots", "thinned": "snapshots"})
