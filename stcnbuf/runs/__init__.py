"""Run folders below the applications: configuration fingerprints and their differences, the record that
refuses mixed results, segmenter snapshots that a resumed run continues from, made-from markers."""

from stcnbuf.runs.markers import MadeFrom
from stcnbuf.runs.record import claim_folder, config_differences, fingerprint
from stcnbuf.runs.snapshots import Snapshot, SnapshotFile

__all__ = ["MadeFrom", "Snapshot", "SnapshotFile", "claim_folder", "config_differences", "fingerprint"]
