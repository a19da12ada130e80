"""What every evaluation dataset provides."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import List, Optional, Sequence

from stcnbuf.datasets.frames import check_resize_method, check_shorter_side
from stcnbuf.datasets.sequence import VideoSequence

log = logging.getLogger(__name__)


def unsafe_names(names: Sequence[str]) -> List[str]:
    """The names of ``names`` that are no plain folder name (empty, ``.``, ``..``, or with a path separator): as
    the name of an output folder they would write elsewhere."""
    return [n for n in names if not n or Path(n).name != n or n in (".", "..")]


def without_repeats(names: Sequence[str], listed_in: str) -> List[str]:
    """``names`` with each name once (in the order first given), warning of those given more than once."""
    once = list(dict.fromkeys(names))
    if len(once) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        log.warning("%s names %s more than once: each is evaluated once", listed_in, ", ".join(twice))
    return once


class VOSDataset(ABC):
    """A set of video sequences; subclasses fill :attr:`names` and implement :meth:`sequence`.

    Attributes:
        name: short dataset name (e.g. ``davis2017``).
        root: dataset folder.
        scorable: ground truth exists, so J&F can be computed locally.
        gt_binary: ground-truth masks are binary (DAVIS 2016).
        protocol: the scoring protocol (``davis``: the official kit's; ``present``: objects that come and go;
            ``lvos`` / ``lvos_official``: LVOS's), see :mod:`stcnbuf.scoring.scorer`.
        unseen: the sequences whose categories training never saw, where the dataset names them (LVOS):
            results are then also reported for the seen and the unseen ones.
        submission: the layout of the archive its evaluation server scores
            (:data:`~stcnbuf.datasets.submission.SUBMISSION_LAYOUTS`) where the set is scored there; ``None``: scored
            here.
        shorter_side: working resolution (frames are scaled so their shorter side has this many pixels;
            ``None`` keeps them as they are). Outputs are always at the original size.
        resize: how frames are scaled to it (:data:`~stcnbuf.datasets.frames.RESIZE_METHODS`; default ``stcn``,
            STCN's evaluation numerics).
    """

    name = "dataset"
    scorable = False
    gt_binary = False
    protocol = "davis"
    unseen: Optional[List[str]] = None
    submission: Optional[str] = None

    def __init__(self, root: str | Path, shorter_side: Optional[int] = None, resize: str = "stcn") -> None:
        self.root = Path(root).expanduser()
        self.shorter_side = check_shorter_side(shorter_side, "data.shorter_side")
        self.resize = check_resize_method(resize)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name}: dataset folder not found: {self.root} "
                                    f"(set data.root to the folder holding the dataset)")
        self.names: List[str] = []

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        for name in self.names:
            yield self.sequence(name)

    @abstractmethod
    def sequence(self, name: str) -> VideoSequence:
        """The sequence ``name`` (one of :attr:`names`), its files checked."""

    def select(self, wanted: Optional[Sequence[str]], available: List[str], allow_missing: bool,
               listed_in: str) -> List[str]:
        """``wanted`` (or every listed sequence) restricted to those on disk.

        Sequences listed but absent raise an error naming them, unless ``allow_missing`` (then a warning); a
        sequence named twice is evaluated once (with a warning).
        """
        names = without_repeats(list(available) if not wanted else [str(s) for s in wanted],
                                listed_in if not wanted else "the sequences asked for")
        unsafe = unsafe_names(names)
        if unsafe:
            raise ValueError(f"{self.name}: sequence name(s) {unsafe} in {listed_in} are not plain folder names "
                             "(outputs are written to <output_dir>/predictions/<name>): fix the list")
        missing = [n for n in names if not self.has_sequence(n)]
        unknown = [n for n in names if wanted and n not in available]
        if unknown:
            raise ValueError(f"{self.name}: sequence(s) {unknown} are not in {listed_in}")
        if missing:
            message = (f"{self.name}: {len(missing)} of {len(names)} sequences listed in {listed_in} are not on "
                       f"disk under {self.root}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
            if not allow_missing:
                raise FileNotFoundError(message + "; to evaluate the present ones, allow missing sequences (eval.py: "
                                        "data.allow_missing=true; python -m stcnbuf.apps.score: --allow-missing)")
            log.warning("%s; evaluating the %d present ones", message, len(names) - len(missing))
            names = [n for n in names if n not in missing]
        if not names:
            raise FileNotFoundError(f"{self.name}: no sequences to evaluate under {self.root}")
        return names

    @abstractmethod
    def has_sequence(self, name: str) -> bool:
        """Whether the frames of sequence ``name`` are on disk."""
