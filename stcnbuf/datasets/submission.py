"""The archive an evaluation server scores: a run's palette PNG predictions under the member names that server
reads. Every dataset whose reader names a layout (:attr:`~stcnbuf.datasets.base.VOSDataset.submission`) gets one
from :func:`write_submission`."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.io.atomic import atomic_write

#: archive layouts by name: the member holding the prediction of frame ``frame`` (its file stem) of ``sequence``
SUBMISSION_LAYOUTS: Dict[str, str] = {
    "annotations": "Annotations/{sequence}/{frame}.png",  # YouTube-VOS, LVOS test
    "sequences": "{sequence}/{frame}.png",                # DAVIS 2017 test-dev / test-challenge, MOSE
}


def check_layout(layout: Optional[str]) -> Optional[str]:
    """``layout`` when it names one of :data:`SUBMISSION_LAYOUTS` or is ``None`` (no archive)."""
    if layout is not None and layout not in SUBMISSION_LAYOUTS:
        raise ValueError(f"unknown submission layout {layout!r}; choose one of {', '.join(SUBMISSION_LAYOUTS)} "
                         "(data.submission)")
    return layout


def submission_members(predictions: Path, dataset: VOSDataset) -> List[Tuple[Path, str]]:
    """``(prediction file, archive member)`` for every output frame of every sequence of ``dataset`` in its layout.

    A frame before a sequence's first annotation may lack its prediction (no object exists there yet: a run
    without the backward pass writes nothing there, as STCN's submissions hold nothing there); any other missing
    prediction is refused, its file named.
    """
    if dataset.submission is None:
        raise ValueError(f"{dataset.name} is scored here: its reader names no server archive")
    member = SUBMISSION_LAYOUTS[dataset.submission]
    entries = []
    for name in dataset.names:
        sequence = dataset.sequence(name)
        first = min(sequence.mask_paths)
        for index in sequence.outputs:
            stem = sequence.frame_name(index)
            path = Path(predictions) / name / f"{stem}.png"
            if path.is_file():
                entries.append((path, member.format(sequence=name, frame=stem)))
            elif index >= first:
                raise FileNotFoundError(f"submission archive: prediction missing: {path} (frame {index} of {name}); "
                                        "segment the sequence again (eval.py into the same output_dir redoes a "
                                        "sequence whose predictions are missing)")
    return entries


def write_submission(predictions: Path, dataset: VOSDataset, out: Path) -> Path:
    """Write ``out``, a zip (stored: PNGs do not compress further) of ``predictions/<seq>/<frame>.png`` in the
    layout of ``dataset``'s server, atomically; returns ``out``."""
    entries = submission_members(predictions, dataset)

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for path, member in entries:
                archive.write(path, member)

    return atomic_write(out, write)
