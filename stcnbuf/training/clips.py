"""Training clips as STCN draws them: frames sampled from annotated videos (max-gap curriculum) or deformed
static images, augmented, with a target object and an optional second object, from the concatenation of the
sources."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.datasets.sequence import IMAGE_SUFFIXES, VideoSequence
from stcnbuf.engine.labels import object_ids_in
from stcnbuf.engine.model.normalization import IMAGENET_MEAN, IMAGENET_STD
from stcnbuf.io.masks import read_grey_mask, read_image
from stcnbuf.training.augmentation import AugmentConfig, augment_clip, static_clip

log = logging.getLogger(__name__)


@dataclass
class Curriculum:
    """Maximum frame gap of a clip as a function of training progress (STCN: 5, then 10, 15, 20, 25 from
    10 %, 20 %, 30 %, 40 % of training, back to 5 at 90 %)."""

    initial: int = 5
    values: Sequence[int] = (10, 15, 20, 25, 5)
    switch_at: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.9)

    def __post_init__(self) -> None:
        if len(self.values) != len(self.switch_at):
            raise ValueError("curriculum values and switch_at need the same length")
        if list(self.switch_at) != sorted(self.switch_at):
            raise ValueError(f"curriculum switch_at must increase, got {list(self.switch_at)}")

    def max_gap(self, progress: float) -> int:
        gap = self.initial
        for value, at in zip(self.values, self.switch_at):
            if progress >= at:
                gap = value
        return int(gap)


def sample_frame_indices(length: int, num_frames: int, max_jump: int, rng: np.random.Generator) -> List[int]:
    """STCN's frame draw (``vos_dataset.py``): with ``J = min(length, max_jump)``, a start ``U{0..length-J}``, then
    each next frame ``U{1..J+1}`` after the previous one, capped at ``length - J`` (second frame),
    ``length - J // 2`` (third; halving on for longer clips) and ``length - 1``; reversed half of the time."""
    jump = min(length, max_jump)
    indices = [int(rng.integers(0, length - jump + 1))]
    for i in range(1, num_frames):
        following = indices[-1] + int(rng.integers(0, jump + 1)) + 1
        indices.append(min(following, length - (jump >> (i - 1)), length - 1))
    return indices[::-1] if rng.random() < 0.5 else indices


class RawClip(NamedTuple):
    """A source's clip before the objects are chosen: ``frames [T,3,h,w]`` uint8, ``labels [T,h,w]`` uint8 (object
    ids) and, for grey-level masks, ``soft_first [h,w]`` in [0, 1]: what the first frame's value encodes for
    object 1 (STCN's stage 0 feeds its soft mask)."""

    frames: Tensor
    labels: Tensor
    soft_first: Optional[Tensor] = None


#: Lists shipped with the package (``stcnbuf/training/subsets/``): STCN's training videos.
SUBSETS_DIR = Path(__file__).parent / "subsets"


def read_subset(subset: str | Path | Sequence[str]) -> List[str]:
    """Sequence names: a list as given, a shipped list by name (``stcn_youtubevos_train``, ``stcn_davis_train``)
    or a text file with one name per line."""
    if not isinstance(subset, (str, Path)):
        return [str(name) for name in subset]
    shipped = SUBSETS_DIR / f"{subset}.txt"
    path = shipped if shipped.is_file() else Path(subset).expanduser()
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SUBSETS_DIR.glob("*.txt")))
        raise FileNotFoundError(f"subset {subset!r} is neither a shipped list ({known}) nor a file")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class VideoClipSource:
    """Clips from the fully annotated sequences of a dataset (DAVIS train, YouTube-VOS train, folders,
    the synthetic set). ``gap_divisor`` scales the curriculum's gap for sets annotated every n-th frame (STCN:
    ``max_skip // 5`` for YouTube-VOS); ``subset`` keeps only the listed sequences (:func:`read_subset`; listed
    sequences that are not on disk are skipped with a warning); sequences shorter than ``min_frames`` are skipped,
    as STCN skips those under 3 frames."""

    redraws_empty_clips = True  #: a clip whose first frame shows no object is drawn again (STCN's video datasets)

    def __init__(self, dataset: VOSDataset, gap_divisor: int = 1,
                 subset: Optional[str | Path | Sequence[str]] = None, min_frames: int = 3) -> None:
        self.name = dataset.name
        names = list(dataset.names)
        if subset is not None:
            wanted = set(read_subset(subset))
            absent = sorted(wanted - set(names))
            if absent:
                log.warning("%s: %d of the %d sequences of subset %s are not in the dataset (e.g. %s)", self.name,
                            len(absent), len(wanted), subset if isinstance(subset, (str, Path)) else "given",
                            ", ".join(absent[:3]))
            names = [n for n in names if n in wanted]
            if not names:
                raise ValueError(f"{self.name}: subset {subset!r} keeps none of the dataset's {len(dataset.names)} "
                                 "sequences: give the dataset it lists, or subset=null to train on every sequence")
        self.sequences: List[VideoSequence] = []
        short = 0
        for name in names:
            sequence = dataset.sequence(name)
            if len(sequence) < min_frames:
                short += 1
                continue
            if not sequence.fully_annotated:
                missing = [sequence.frame_name(i) for i in range(len(sequence)) if i not in sequence.mask_paths]
                raise ValueError(f"training needs a mask for every frame: {dataset.name}/{name} lacks masks for "
                                 f"{missing[:5]}{' ...' if len(missing) > 5 else ''}")
            self.sequences.append(sequence)
        if short:
            log.info("%s: %d sequence(s) shorter than %d frames skipped", self.name, short, min_frames)
        if not self.sequences:
            raise ValueError(f"{self.name}: no sequence of at least {min_frames} frames to train on")
        self.gap_divisor = max(1, int(gap_divisor))

    def __len__(self) -> int:
        return len(self.sequences)

    def sample(self, item: int, rng: np.random.Generator, num_frames: int, max_gap: int,
               augment: AugmentConfig) -> RawClip:
        """A clip of sequence ``item``."""
        sequence = self.sequences[item]
        indices = sample_frame_indices(len(sequence), num_frames, max(1, max_gap // self.gap_divisor), rng)
        frames = [sequence.read_frame(i) for i in indices]
        masks = [sequence.read_mask(i) for i in indices]
        return RawClip(*augment_clip(frames, masks, rng, augment))


class StaticImageSource:
    """Image + mask pairs (ECSSD, DUTS, FSS-1000, HRSOD, BIG, ...) turned into clips by deformation (STCN's
    stage 0).

    Images are found anywhere under ``image_dir`` (so both of STCN's layouts: ``<name>.jpg`` beside
    ``<name>.png``, and FSS-1000's ``<class>/<n>.jpg`` beside ``<class>/<n>.png``); each mask is the PNG with the
    image's relative path in ``mask_dir`` (default: beside the images), read as grey levels
    (:func:`~stcnbuf.io.masks.read_grey_mask`): the object is where it exceeds half.
    """

    redraws_empty_clips = False  #: STCN's stage 0 trains on a clip as it comes

    def __init__(self, image_dir: str | Path, mask_dir: Optional[str | Path] = None, name: str = "static") -> None:
        self.name = name
        image_dir = Path(image_dir).expanduser()
        mask_dir = Path(mask_dir).expanduser() if mask_dir else image_dir
        if not image_dir.is_dir():
            raise FileNotFoundError(f"static image folder not found: {image_dir}")
        self.pairs: List[Tuple[Path, Path]] = []
        for image in sorted(image_dir.rglob("*")):
            if image.suffix.lower() not in IMAGE_SUFFIXES or (mask_dir == image_dir and image.suffix.lower() == ".png"):
                continue
            mask = mask_dir / image.relative_to(image_dir).with_suffix(".png")
            if mask.is_file():
                self.pairs.append((image, mask))
        if not self.pairs:
            raise FileNotFoundError(f"no image/mask pairs under {image_dir} (masks: <stem>.png in {mask_dir})")

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, item: int, rng: np.random.Generator, num_frames: int, max_gap: int,
               augment: AugmentConfig) -> RawClip:
        """A clip deformed from image ``item``."""
        image_path, mask_path = self.pairs[item]
        image = read_image(image_path)
        mask = read_grey_mask(mask_path)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask_path} is {mask.shape[1]}×{mask.shape[0]} but {image_path} is "
                             f"{image.shape[1]}×{image.shape[0]}")
        frames, grey = static_clip(image, mask, num_frames, rng, augment)
        return RawClip(frames, (grey > 127).to(torch.uint8), grey[0].float() / 255)


@dataclass
class RepeatedSource:
    """A clip source and how many times it enters the training set (STCN: ``ConcatDataset([davis] * 5 +
    [youtube])``)."""

    source: object
    repeat: int = 1


@dataclass
class ClipSpec:
    """Shape of a training sample: frames per clip, objects per clip, the object choice, the augmentation.

    The objects are chosen among the ids of the clip's first frame (after augmentation) that cover at least
    ``min_object_fraction`` of it (STCN: any); a video clip without one is drawn again from the same video, up
    to ``tries`` times, after which it trains with an empty target (STCN: 5); a static image's clip is not drawn
    again (STCN's stage 0 trains on it as it is).
    """

    num_frames: int = 3
    max_objects: int = 2
    min_object_fraction: float = 0.0
    tries: int = 5
    augment: AugmentConfig = field(default_factory=AugmentConfig)


class ClipKey(NamedTuple):
    """Which clip to draw: number ``index`` of ``epoch``, at ``progress`` (the fraction of training done when
    its batch is trained, for the curriculum)."""

    epoch: int
    index: int
    progress: float = 0.0


class ClipBatchSampler(Sampler[List[ClipKey]]):
    """Batches of :class:`ClipKey` for one process, continuing from the training position.

    Training batch ``n`` is batch ``n % len(self)`` of epoch ``n // len(self)``; each iteration yields the rest
    of the epoch that ``batches_done()`` (the trainer's restored step on a resume) falls in, so a run resumed
    mid-epoch trains the clips an uninterrupted run would. Process ``rank`` takes every ``world_size``-th clip
    (every process gets the same number of batches). ``progress`` is the batch number over ``total_batches``
    (0 without a total). With ``repeat``, every epoch holds epoch 0's clips at progress 0 (overfitting a few
    clips to check that training can fit them).
    """

    def __init__(self, num_samples: int, batch_size: int, rank: int = 0, world_size: int = 1,
                 batches_done: Callable[[], int] = lambda: 0, total_batches: Optional[int] = None,
                 repeat: bool = False) -> None:
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.rank, self.world_size = int(rank), int(world_size)
        self.num_batches = self.num_samples // self.world_size // self.batch_size
        if self.num_batches == 0:
            raise ValueError(f"{num_samples} clips per epoch make no full batch of {batch_size} on each of "
                             f"{world_size} process(es): raise datamodule.samples_per_epoch")
        self.batches_done, self.total_batches, self.repeat = batches_done, total_batches, bool(repeat)

    def __len__(self) -> int:
        return self.num_batches

    def layout(self) -> Dict[str, int]:
        """What decides which clips training batch ``n`` holds (besides the seed)."""
        return {"samples_per_epoch": self.num_samples, "batch_size": self.batch_size, "processes": self.world_size,
                "repeat": int(self.repeat)}

    def __iter__(self) -> Iterator[List[ClipKey]]:
        epoch, first = divmod(int(self.batches_done()), self.num_batches)
        return (self._batch(epoch, b) for b in range(first, self.num_batches))

    def _batch(self, epoch: int, batch: int) -> List[ClipKey]:
        step = epoch * self.num_batches + batch
        progress = step / self.total_batches if self.total_batches and not self.repeat else 0.0
        positions = range(batch * self.batch_size, (batch + 1) * self.batch_size)
        return [ClipKey(0 if self.repeat else epoch, self.rank + p * self.world_size, progress) for p in positions]


class ClipDataset(Dataset):
    """``samples_per_epoch`` clips a training epoch, drawn from the concatenation of the sources.

    As STCN's ``ConcatDataset`` under a shuffled sampler, every entry of the concatenation (each source's videos
    or images, ``repeat`` times over) is equally likely, and each run of ``N`` consecutive clips (``N`` entries in
    all) visits every entry once, in the order of a permutation seeded by ``[seed, run]``. The clip of
    :class:`ClipKey` ``(epoch, i, progress)`` is clip ``epoch * samples_per_epoch + i`` of that order, augmented
    from ``np.random.default_rng([seed, epoch, i])`` with the curriculum's maximum gap at ``progress``: any number
    of workers or processes, and a resumed run, draw the same clips.

    Each item: ``frames [T,3,H,W]`` (normalised float), ``labels [T,H,W]`` (0 background, 1 target object,
    2 second object), ``selector [K]`` (1 where the object exists; the target's slot is 1 also when the clip ends
    up without one, as in STCN), ``first_masks [K,H,W]`` (what the first frame's value encodes per object),
    ``max_gap`` (of the curriculum).
    """

    def __init__(self, sources: Dict[str, RepeatedSource], samples_per_epoch: int, spec: ClipSpec,
                 curriculum: Curriculum, seed: int = 0) -> None:
        if not sources:
            raise ValueError("no training clip sources configured")
        self.names = list(sources)
        self.sources = [sources[n].source for n in self.names]
        repeats = [sources[n].repeat for n in self.names]
        if any(not isinstance(r, int) or r < 1 for r in repeats):
            raise ValueError(f"source repeats must be integers >= 1, got {dict(zip(self.names, repeats))}")
        sizes = [r * len(s) for r, s in zip(repeats, self.sources)]
        self.offsets = np.cumsum([0] + sizes)
        self.samples_per_epoch = int(samples_per_epoch)
        self.spec, self.curriculum, self.seed = spec, curriculum, int(seed)
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self._order: Tuple[int, np.ndarray] = (-1, np.empty(0, np.int64))

    def __len__(self) -> int:
        return self.samples_per_epoch

    @property
    def num_entries(self) -> int:
        """Entries of the concatenation (each source's items times its repeat)."""
        return int(self.offsets[-1])

    def entry(self, epoch: int, index: int) -> Tuple[int, int]:
        """``(source number, item)`` of clip ``index`` of ``epoch``."""
        run, position = divmod(int(epoch) * self.samples_per_epoch + int(index), self.num_entries)
        if self._order[0] != run:
            self._order = (run, np.random.default_rng([self.seed, run]).permutation(self.num_entries))
        entry = int(self._order[1][position])
        source = int(np.searchsorted(self.offsets, entry, side="right")) - 1
        return source, (entry - int(self.offsets[source])) % len(self.sources[source])

    def __getitem__(self, key: ClipKey | Tuple[int, int]) -> Dict[str, Tensor]:
        epoch, index, progress = ClipKey(*key)
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        max_gap = self.curriculum.max_gap(progress)
        spec = self.spec
        number, item = self.entry(epoch, index)
        source = self.sources[number]
        tries = spec.tries if source.redraws_empty_clips else 1
        for _ in range(max(1, tries)):
            clip = source.sample(item, rng, spec.num_frames, max_gap, spec.augment)
            first = clip.labels[0]
            minimum = spec.min_object_fraction * first.numel()
            candidates = [i for i in object_ids_in(first) if int((first == i).sum()) >= minimum]
            if candidates:
                break
        chosen = [int(x) for x in rng.permutation(candidates)[: spec.max_objects]] if candidates else []
        target = torch.zeros_like(clip.labels, dtype=torch.long)
        selector = torch.zeros(spec.max_objects)
        selector[0] = 1  # the target's slot, also when the clip has no object (an empty target, as in STCN)
        for slot, object_id in enumerate(chosen):
            target[clip.labels == object_id] = slot + 1
            selector[slot] = 1
        first_masks = torch.stack([(target[0] == k + 1).float() for k in range(spec.max_objects)])
        if clip.soft_first is not None:  # a static image's one object, soft also where nothing exceeds half
            first_masks[0] = clip.soft_first
        images = (clip.frames.float() / 255 - self.mean) / self.std
        return {"frames": images, "labels": target, "selector": selector, "first_masks": first_masks,
                "max_gap": max_gap}
