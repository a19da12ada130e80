"""An evaluation's output folder: its configuration fingerprint, per-sequence completion markers, resume."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from stcnbuf.datasets.sequence import VideoSequence
from stcnbuf.io.atomic import atomic_write_text, remove_leftovers
from stcnbuf.io.within import remove, require_within
from stcnbuf.runs.inputs import content_digests, file_stamps
from stcnbuf.runs.lock import FolderLock
from stcnbuf.runs.markers import damaged_files
from stcnbuf.runs.markers import file_stamps as output_stamps
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
    ``sequences/<seq>.json`` markers written once a sequence is complete; a marker vouches for the size and hash of
    each of its sequence's files.

    A rerun with the same configuration resumes: sequences with a marker, all their files as the marker recorded
    them and unchanged inputs (:func:`sequence_inputs`) are kept; a sequence whose frames or input masks changed,
    or whose files are missing or damaged, is segmented again. A rerun with another configuration is refused (its
    differences are listed) unless ``overwrite``. The run holding ``lock`` (:func:`~stcnbuf.runs.lock.run_lock`)
    is the folder's only writer; a shard job's shared lock must become exclusive to discard another configuration.
    Nothing is written through a symbolic link out of ``root``.
    """

    def __init__(self, root: Path, config: Dict[str, Any], overwrite: bool = False,
                 lock: Optional[FolderLock] = None) -> None:
        self.root = Path(root)
        self.config = config
        self.fingerprint = fingerprint(config)
        self.predictions = self.root / "predictions"
        self.markers = self.root / "sequences"
        self.lock = lock
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in (self.predictions, self.markers, self.root / "shards"):
            require_within(self.root, folder)
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
        files = data.get("files")
        if not isinstance(files, dict) or sorted(files) != sorted(f"{stem}.png" for stem in record.outputs):
            log.warning("%s does not record its files' sizes and hashes: segmenting %s again", marker, name)
            return None
        damaged = damaged_files(self.predictions / name, files)
        if damaged:
            log.warning("%s: %d of its %d predictions are missing or differ from what %s recorded (%s): segmenting "
                        "it again", name, len(damaged), len(files), marker, ", ".join(damaged[:3]))
            return None
        return record

    def _discard_all(self, same: bool) -> None:
        """Everything another configuration left: predictions, records, summaries."""
        if same:
            return
        if self.lock is not None and (self.root / "run.json").is_file():
            self.lock.upgrade("discarding the results of another configuration")
        for folder in (self.predictions, self.markers, self.root / "shards"):
            remove(folder)
        self.remove_summaries()

    def remove_summaries(self) -> None:
        """Remove the files a run writes over all its sequences (:data:`SUMMARY_FILES`)."""
        for pattern in SUMMARY_FILES:
            for path in self.root.glob(pattern):
                path.unlink(missing_ok=True)

    def discard(self, name: str) -> None:
        """Remove whatever an earlier, unfinished or stale run left of sequence ``name``."""
        remove(self.predictions / name)  # with the temporary files of a killed run; a link as a link
        remove(self.markers / f"{name}.json")
        require_within(self.root, self.predictions / name)

    def prediction_path(self, name: str, stem: str) -> Path:
        return self.predictions / name / f"{stem}.png"

    def mark_finished(self, record: SequenceRecord, inputs: Dict[str, Any]) -> None:
        """Record that ``record.name`` is complete, made from ``inputs``, with the size and hash of each file."""
        files = output_stamps(self.predictions / record.name, [f"{stem}.png" for stem in record.outputs])
        atomic_write_text(self.markers / f"{record.name}.json",
                          json.dumps({"fingerprint": self.fingerprint, "inputs": inputs, "record": asdict(record),
                                      "files": files}))
