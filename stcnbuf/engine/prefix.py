"""What a plan's prefix depends on: a digest per plan position, chained over the visits up to it.

The segmenter's state and outputs after visit ``p`` depend only on the settings, the video, visits ``0..p`` and
the masks of the annotated frames among them. :func:`prefix_digests` hashes exactly that, so two runs whose
digests agree at ``p`` (the same ``salt`` for settings and video) hold the same state there: a run given one more
(or one changed) mask continues from a state saved at the last position before the first visit the change
affects (:func:`common_prefix`), and ends with what a run given all the masks at once would write.
"""

from __future__ import annotations

import hashlib
from typing import List, Mapping, Optional, Sequence

import numpy as np

from stcnbuf.engine.labels import Annotation
from stcnbuf.engine.plan import Plan


def annotation_digest(*annotations: Optional[Annotation]) -> str:
    """A digest of masks (their label maps, shapes, dtypes and object ids); ``None`` entries count as absent."""
    digest = hashlib.sha256()
    for annotation in annotations:
        if annotation is None:
            digest.update(b"none;")
            continue
        labels = np.ascontiguousarray(annotation.labels)
        digest.update(f"{labels.shape}{labels.dtype}{list(annotation.object_ids or [])};".encode())
        digest.update(labels.tobytes())
    return digest.hexdigest()


def prefix_digests(plan: Plan, frame_digests: Mapping[int, str], salt: str = "") -> List[str]:
    """Entry ``p``: the digest of ``salt``, visits ``0..p`` and the masks (``frame_digests``, by frame) of the
    annotated frames among them."""
    missing = sorted({v.frame for v in plan.visits if v.annotated} - set(frame_digests))
    if missing:
        raise ValueError(f"the plan annotates frame(s) {missing} but no mask digests are given for them")
    chained, digests = hashlib.sha256(f"{plan.num_frames};{salt}".encode()).hexdigest(), []
    for visit in plan.visits:
        masks = frame_digests[visit.frame] if visit.annotated else ""
        text = (f"{chained};{visit.frame},{visit.action.value},{visit.write.value},{int(visit.new_run)},"
                f"{int(visit.output)};{masks}")
        chained = hashlib.sha256(text.encode()).hexdigest()
        digests.append(chained)
    return digests


def common_prefix(old: Sequence[str], new: Sequence[str]) -> int:
    """How many leading positions two runs' :func:`prefix_digests` share (they agree up to the first change)."""
    count = 0
    for a, b in zip(old, new):
        if a != b:
            break
        count += 1
    return count


__all__ = ["annotation_digest", "common_prefix", "prefix_digests"]
