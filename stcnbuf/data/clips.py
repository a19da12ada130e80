"""Training clips: frames sampled from annotated videos (max-gap curriculum) or deformed static images,
augmented, with a target object and an optional second object."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from stcnbuf.data.augment import AugmentConfig, augment_clip, deform_static
from stcnbuf.data.base import VOSDataset
from stcnbuf.data.sequence import IMAGE_SUFFIXES, VideoSequence
from stcnbuf.io.masks import read_image, read_label_png
from stcnbuf.labels import object_ids_in
from stcnbuf.model.normalization import IMAGENET_MEAN, IMAGENET_STD


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


def sample_frame_indices(length: int, num_frames: int, max_gap: int, rng: np.random.Generator) -> List[int]:
    """Ordered frame indices with consecutive gaps of 1..``max_gap`` (clipped at the end), reversed half
    of the time."""
    start = int(rng.integers(0, max(1, length - num_frames + 1)))
    indices = [start]
    for _ in range(num_frames - 1):
        indices.append(min(indices[-1] + int(rng.integers(1, max_gap + 1)), length - 1))
    return indices[::-1] if rng.random() < 0.5 else indices


class VideoClipSource:
    """Clips from the fully annotated sequences of a dataset (DAVIS train, YouTube-VOS train, folders,
    the synthetic set). ``gap_divisor`` scales the curriculum's gap for sets annotated every n-th frame."""

    def __init__(self, dataset: VOSDataset, gap_divisor: int = 1) -> None:
        self.name = dataset.name
        self.sequences: List[VideoSequence] = []
        for name in dataset.names:
            sequence = dataset.sequence(name)
            if not sequence.fully_annotated:
                missing = [sequence.frame_name(i) for i in range(len(sequence)) if i not in sequence.mask_paths]
                raise ValueError(f"training needs a mask for every frame: {dataset.name}/{name} lacks masks for "
                                 f"{missing[:5]}{' ...' if len(missing) > 5 else ''}")
            self.sequences.append(sequence)
        self.gap_divisor = max(1, int(gap_divisor))

    def __len__(self) -> int:
        return len(self.sequences)

    def sample(self, rng: np.random.Generator, num_frames: int, max_gap: int,
               augment: AugmentConfig) -> Tuple[Tensor, Tensor]:
        sequence = self.sequences[int(rng.integers(len(self.sequences)))]
        gap = max(1, max_gap // self.gap_divisor)
        indices = sample_frame_indices(len(sequence), num_frames, gap, rng)
        frames = [sequence.read_frame(i) for i in indices]
        masks = [sequence.read_mask(i) for i in indices]
        return augment_clip(frames, masks, rng, augment)


class StaticImageSource:
    """Image + mask pairs (ECSSD, DUTS, FSS-1000, HRSOD, BIG, ...) turned into clips by deformation.

    Masks are PNGs with the image's file stem, in ``mask_dir`` (default: beside the images); any nonzero
    pixel is the object.
    """

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

    def sample(self, rng: np.random.Generator, num_frames: int, max_gap: int,
               augment: AugmentConfig) -> Tuple[Tensor, Tensor]:
        image_path, mask_path = self.pairs[int(rng.integers(len(self.pairs)))]
        image = read_image(image_path)
        mask = (read_label_png(mask_path) > 0).astype(np.uint8)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask_path} is {mask.shape[1]}×{mask.shape[0]} but {image_path} is "
                             f"{image.shape[1]}×{image.shape[0]}")
        return deform_static(image, mask, num_frames, rng, augment)


@dataclass
class WeightedSource:
    source: object
    weight: float = 1.0


@dataclass
class ClipSpec:
    """Shape of a training sample."""

    num_frames: int = 3
    max_objects: int = 2
    min_object_fraction: float = 0.002
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
    """``samples_per_epoch`` random clips drawn from weighted sources.

    The clip of :class:`ClipKey` ``(epoch, i, progress)`` depends on nothing else: it is drawn from
    ``np.random.default_rng([seed, epoch, i])`` with the curriculum's maximum gap at ``progress``, so any
    number of workers or processes, and a resumed run, draw the same clips.

    Each item: ``frames [T,3,H,W]`` (normalised float), ``labels [T,H,W]`` (0 background, 1 target object,
    2 second object), ``selector [2]`` (1 where the object exists), ``max_gap`` (of the curriculum).
    """

    def __init__(self, sources: Dict[str, WeightedSource], samples_per_epoch: int, spec: ClipSpec,
                 curriculum: Curriculum, seed: int = 0) -> None:
        if not sources:
            raise ValueError("no training clip sources configured")
        self.names = list(sources)
        self.sources = [sources[n].source for n in self.names]
        weights = np.array([float(sources[n].weight) for n in self.names])
        if (weights <= 0).any():
            raise ValueError(f"source weights must be positive, got {dict(zip(self.names, weights))}")
        self.probabilities = weights / weights.sum()
        self.samples_per_epoch = int(samples_per_epoch)
        self.spec, self.curriculum, self.seed = spec, curriculum, int(seed)
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, key: ClipKey | Tuple[int, int]) -> Dict[str, Tensor]:
        epoch, index, progress = ClipKey(*key)
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        max_gap = self.curriculum.max_gap(progress)
        spec = self.spec
        for _ in range(20):
            source = self.sources[int(rng.choice(len(self.sources), p=self.probabilities))]
            frames, labels = source.sample(rng, spec.num_frames, max_gap, spec.augment)
            first = labels[0]
            minimum = spec.min_object_fraction * first.numel()
            candidates = [i for i in object_ids_in(first) if int((first == i).sum()) >= minimum]
            if candidates:
                break
        else:
            raise RuntimeError(f"20 clips in a row without a visible object in the first frame (sources "
                               f"{self.names}); check the masks or lower min_object_fraction")
        chosen = [int(x) for x in rng.permutation(candidates)[: spec.max_objects]]
        target = torch.zeros_like(labels, dtype=torch.long)
        selector = torch.zeros(spec.max_objects)
        for slot, object_id in enumerate(chosen):
            target[labels == object_id] = slot + 1
            selector[slot] = 1
        images = (frames.float() / 255 - self.mean) / self.std
        return {"frames": images, "labels": target, "selector": selector, "max_gap": max_gap}
