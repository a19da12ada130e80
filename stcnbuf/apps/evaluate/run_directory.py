"""An evaluation's output folder: its configuration fingerprint, per-sequence completion markers, resume."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from stcnbuf.datasets.sequence import VideoSequence
from stcnbuf.io.atomic import atomic_write_text, remove_leftovers
from stcnbuf.runs.inputs import content_digests, file_stamps
from stcnbuf.runs.record import claim_folder, fingerprint

log = logging.getLogger(__name__)
#: what a run writes over all its sequences (rewritten by every run, removed with another configuration's results),
#: as file name patterns (the tables carry the set's name, as the official kits name them)
SUMMARY_FILES = ("metrics.json", "global_results-*.csv", "per-sequence_results-*.csv", "over_time.png",
                 "submission.zip")


def sequence_inputs(sequence: VideoSequence) -> Dict[str, Any]:
    """What a sequence's predictions are made from: its frame files (names, sizes, times) and the contents of
    its input masks."""
    return {"frames": file_stamps(sequence.frame_paths), "masks": content_digests(sequence.input_mask_paths)}


@dataclass
class SequenceRecord:
    """What a finished sequence left behind (kept beside its predictions)."""

    name: str
    frames: int          #: frames segmented, burn-in visits included
    seconds: float       #: compute time of those frames
    objects: int
    peak_memory_mb: float
    outputs: List[str]
    burn_in_frames: int = 0
    #: frames, compute seconds and peak memory in each tenth of the visits (:func:`~stcnbuf.scoring.over_time.by_tenth`)
    by_tenth: Optional[Dict[str, List[Optional[float]]]] = None
    #: ``[frame, object id, confidence, J]`` of each object on each segmented frame with ground truth
    #: (:func:`~stcnbuf.scoring.separation.object_frame_scores`)
    confidence_scores: Optional[List[List[float]]] = None


class RunDirectory:
    """``output_dir`` with ``run.json`` (configuration + fingerprint), ``predictions/<seq>/`` and
    ``sequences/<seq>.json`` markers written once a sequence is complete.

    A rerun with the same configuration resumes: sequences with a marker, all their files and unchanged
    inputs (:func:`sequence_inputs`) are kept; a sequence whose frames or input masks changed is segmented again.
    A rerun with another configuration is refused (its differences are listed) unless ``overwrite``.
    """

    def __init__(self, root: Path, config: Dict[str, Any], overwrite: bool = False) -> None:
        self.root = Path(root)
        self.config = config
        self.fingerprint = fingerprint(config)
        self.predictions = self.root / "predictions"
        self.markers = self.root / "sequences"
        self.root.mkdir(parents=True, exist_ok=True)
        claim_folder(self.root / "run.json", config, keep=not overwrite,
                     fix="use a new output_dir, or overwrite=true to discard them", discard=self._discard_all)
        for folder in (self.root, self.markers):
            remove_leftovers(folder)

    def finished(self, name: str, inputs: Dict[str, Any]) -> Optional[SequenceRecord]:
        """The record of a sequence completed with this configuration from these ``inputs``, or ``None``."""
        marker = self.markers / f"{name}.json"
        if not marker.is_file():
            return None
        try:
            data = json.loads(marker.read_text())
        except ValueError:
            log.warning("%s is unreadable: segmenting %s again", marker, name)
            return None
        if data.get("fingerprint") != self.fingerprint:
            return None
        if data.get("inputs") != inputs:
            log.info("%s: its frames or input masks changed since it was segmented: segmenting it again", name)
            return None
        record = SequenceRecord(**data["record"])
        if not all((self.predictions / name / f"{stem}.png").is_file() for stem in record.outputs):
            return None
        return record

    def _discard_all(self, same: bool) -> None:
        """Everything another configuration left: predictions, records, summaries."""
        if same:
            return
        for folder in (self.predictions, self.markers, self.root / "shards"):
            shutil.rmtree(folder, ignore_errors=True)
        self.remove_summaries()

    def remove_summaries(self) -> None:
        """Remove the files a run writes over all its sequences (:data:`SUMMARY_FILES`)."""
        for pattern in SUMMARY_FILES:
            for path in self.root.glob(pattern):
                path.unlink(missing_ok=True)

    def discard(self, name: str) -> None:
        """Remove whatever an earlier, unfinished or stale run left of sequence ``name``."""
        shutil.rmtree(self.predictions / name, ignore_errors=True)  # with the temporary files of a killed run
        (self.markers / f"{name}.json").unlink(missing_ok=True)

    def prediction_path(self, name: str, stem: str) -> Path:
        return self.predictions / name / f"{stem}.png"

    def mark_finished(self, record: SequenceRecord, inputs: Dict[str, Any]) -> None:
        """Record that ``record.name`` is complete, made from ``inputs``."""
        atomic_write_text(self.markers / f"{record.name}.json",
                          json.dumps({"fingerprint": self.fingerprint, "inputs": inputs, "record": asdict(record)}))
