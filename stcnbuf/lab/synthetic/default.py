"""The embedded default dataset: deterministic synthetic videos written in the DAVIS 2017 layout.

Every sequence is a textured background seen by a camera that pans, zooms, rotates and sometimes shakes,
with 1 to ``max_objects`` textured, often shaded shapes (polygons, ellipses, blobs, stars, rings with a hole,
crescents, clusters of lobes, bars) that move smoothly with occasional quick moves, rotate, change scale,
sometimes bend and stretch (non-rigid), cast shadows, occlude each other (fixed z-order), leave the frame and
come back, and sometimes change appearance (gradually or at one frame). Up to two unannotated distractors,
some wearing an object's texture, move among them. Global brightness / contrast / colour gains drift, light
and shade move over the scene, exposure sometimes flickers; some sequences are slightly blurred, most carry
sensor noise. Every object is clearly visible in frame 0, so frame 0's mask holds every id 1..K.

Layout written (read like DAVIS 2017)::

    ROOT/JPEGImages/480p/<seq>/00000.jpg ...      RGB JPEG (quality 90)
    ROOT/Annotations/480p/<seq>/00000.png ...     palette PNG (DAVIS palette), every frame annotated
    ROOT/ImageSets/2017/{train,val,long}.txt      one sequence name per line
    ROOT/synthetic.json                           generation parameters + format version (written last)

Every random choice comes from ``np.random.default_rng([seed, split id, index])``: a sequence does not
depend on the other sequences, the order of generation, or how many sequences its split has.

Command line::

    python -m stcnbuf.lab.synthetic default --root DIR [--seed N --height H --width W ...]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np
from tqdm import tqdm

from stcnbuf.io import atomic_write_text
from stcnbuf.lab.synthetic.cache import ensure_generated
from stcnbuf.lab.synthetic.config import GeneratorConfig
from stcnbuf.lab.synthetic.scene import Scene
from stcnbuf.lab.synthetic.writer import worker_map, workers_for, write_frames

#: Bump when the generated content or layout changes: a dataset with another version is regenerated.
FORMAT_VERSION = 2
#: names the generator in the data it writes (a cache key, compared on reuse), not a module path
GENERATOR = "stcnbuf.data.synthetic"
FOLDER = "synthetic"            # the dataset goes into <data_dir>/synthetic-<key>
SPLITS = ("train", "val", "long")
_SPLIT_IDS = {"train": 1, "val": 2, "long": 3}
META_FILE = "synthetic.json"


@dataclass(frozen=True)
class SyntheticConfig(GeneratorConfig):
    """Parameters of the synthetic dataset (all of them go into :meth:`key` and ``synthetic.json``)."""

    seed: int = 0
    height: int = 240
    width: int = 432
    train_sequences: int = 40
    train_frames: int = 40
    val_sequences: int = 8
    val_frames: int = 50
    long_sequences: int = 2
    long_frames: int = 400
    max_objects: int = 3

    def __post_init__(self) -> None:
        self.check_ints()
        if self.height < 16 or self.width < 16:
            raise ValueError(f"frames must be at least 16×16, got {self.height}×{self.width}")
        if not 1 <= self.max_objects <= 254:
            raise ValueError(f"max_objects must be in 1..254, got {self.max_objects}")
        for split in SPLITS:
            if self.sequences(split) < 0:
                raise ValueError(f"{split}_sequences must be >= 0, got {self.sequences(split)}")
            if self.frames(split) < 1:
                raise ValueError(f"{split}_frames must be >= 1, got {self.frames(split)}")

    def sequences(self, split: str) -> int:
        _check_split(split)
        return int(getattr(self, f"{split}_sequences"))

    def frames(self, split: str) -> int:
        _check_split(split)
        return int(getattr(self, f"{split}_frames"))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def sequence_name(split: str, index: int) -> str:
    return f"{split}_{index:03d}"


class _DefaultScene(Scene):
    """Sequence ``index`` of ``split``: 1 to ``max_objects`` objects and up to two distractors, placed so that
    every object is clearly visible in frame 0, with crossings (occlusions) and excursions (exits)."""

    def __init__(self, config: SyntheticConfig, split: str, index: int) -> None:
        _check_split(split)
        count = config.sequences(split)
        if not 0 <= index < count:
            raise ValueError(f"sequence index {index} out of range for split {split!r} with {count} sequences")
        rng = np.random.default_rng([config.seed, _SPLIT_IDS[split], index])
        super().__init__(rng, sequence_name(split, index), config.frames(split), config.height, config.width)
        self._add_objects(rng, int(rng.integers(1, config.max_objects + 1)))
        self._add_distractors(rng, int(rng.choice(3, p=(0.4, 0.35, 0.25))))
        self._place_starts(rng)
        self._add_crossings(rng, self.t)
        self._add_excursions(rng, self.movers, self.t)


def generate_sequence(config: SyntheticConfig, split: str, index: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """The frames of sequence ``index`` of ``split``: (RGB frame H×W×3 uint8, label map H×W uint8) each."""
    return iter(_DefaultScene(config, split, index))


def _write_sequence(config: SyntheticConfig, split: str, index: int, root: Path) -> str:
    name = sequence_name(split, index)
    write_frames(generate_sequence(config, split, index), root / "JPEGImages" / "480p" / name,
                 root / "Annotations" / "480p" / name)
    return name


def _write_sequence_job(args: Tuple[SyntheticConfig, str, int, str]) -> str:
    config, split, index, root = args
    return _write_sequence(config, split, index, Path(root))


def metadata(config: SyntheticConfig) -> dict:
    """What ``synthetic.json`` holds for ``config``."""
    return {
        "format_version": FORMAT_VERSION,
        "generator": GENERATOR,
        "key": config.key(),
        "config": config.as_dict(),
        "splits": {split: [sequence_name(split, i) for i in range(config.sequences(split))] for split in SPLITS},
        "layout": "davis2017",
        "resolution": "480p",
    }


def write_dataset(config: SyntheticConfig, root: Path, workers: Optional[int] = None) -> Path:
    """Write the whole dataset into ``root`` (created if needed); ``synthetic.json`` is written last."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / META_FILE).unlink(missing_ok=True)       # a partly rewritten folder must not look complete
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    total = sum(config.sequences(s) * config.frames(s) for s in SPLITS)
    workers = workers_for(total, workers)
    with worker_map(workers) as jobs_map:
        for split in SPLITS:
            count = config.sequences(split)
            jobs = [(config, split, i, str(root)) for i in range(count)]
            names = list(tqdm(jobs_map(_write_sequence_job, jobs), total=count, desc=f"synthetic {split}",
                              unit="seq", leave=True))
            atomic_write_text(sets / f"{split}.txt", "".join(f"{n}\n" for n in names))
    atomic_write_text(root / META_FILE, json.dumps(metadata(config), indent=2, sort_keys=True) + "\n")
    return root


def ensure_synthetic_dataset(config: SyntheticConfig, data_dir: Path) -> Path:
    """The dataset for ``config`` under ``data_dir`` (``synthetic-<key>``), generated if absent or invalid
    (see :func:`~stcnbuf.lab.synthetic.cache.ensure_generated`)."""
    meta = {"meta_file": META_FILE, **metadata(config)}
    return ensure_generated(data_dir, f"{FOLDER}-{config.key()}", meta, lambda folder: write_dataset(config, folder))
