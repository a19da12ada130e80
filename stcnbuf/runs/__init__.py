"""Run folders below the applications: configuration fingerprints and their differences, the record that
refuses mixed results, the lock that keeps one writer per folder, segmenter snapshots that a resumed run continues
from, made-from and completion markers (names load with their modules when first used)."""

from stcnbuf.engine.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "MadeFrom": "markers", "claim_folder": "record", "config_differences": "record", "fingerprint": "record",
    "FolderBusy": "lock", "folder_lock": "lock", "run_lock": "lock",
    "Snapshot": "snapshots", "SnapshotStore": "snapshots", "thinned": "snapshots"})
