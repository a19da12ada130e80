"""Long sequences from short ones, as the long-time video benchmark LV3 does: each sequence is replayed
forward, backward, forward, ... (the turning frames not repeated), its ground truth carried along, with an
optional drift per lap (brightness, contrast, zoom) so that memory cannot match exact copies of old frames.

    stcnbuf-long-video --source DAVIS/2017/trainval --out data/davis17-lv3 --laps 3 [--drift 0.1]
    python eval.py data=davis2017 data.root=data/davis17-lv3 data.split=val ...

The output is a DAVIS 2017 folder (``JPEGImages/480p``, ``Annotations/480p``, ``ImageSets/2017/<split>.txt``);
frames without drift are copied byte for byte. Any DAVIS-layout source with ground truth on every frame works
(DAVIS 2016 grayscale masks are written as object 1).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from stcnbuf.datasets.davis import DavisDataset
from stcnbuf.datasets.sequence import VideoSequence
from stcnbuf.io import atomic_write_text, write_label_png
from stcnbuf.io.atomic import atomic_write


def replay_order(num_frames: int, laps: int) -> List[tuple[int, int]]:
    """``(lap, frame)`` of a forward-backward replay over ``laps`` laps: 0..T-1, T-2..0, 1..T-1, ..."""
    if num_frames < 2:
        raise ValueError(f"a replay needs at least 2 frames, got {num_frames}")
    if laps < 1:
        raise ValueError(f"laps must be >= 1, got {laps}")
    order = [(0, t) for t in range(num_frames)]
    for lap in range(1, laps):
        frames = range(num_frames - 2, -1, -1) if lap % 2 else range(1, num_frames)
        order += [(lap, t) for t in frames]
    return order


def drift(image: np.ndarray, labels: np.ndarray, lap: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Lap ``lap``'s change of a frame and its labels: brightness and contrast shifted by ``strength`` per lap
    (alternating in sign) and a centred zoom of ``1 + strength * lap / 2`` (labels nearest-neighbour)."""
    if lap == 0 or strength == 0:
        return image, labels
    sign = 1 if lap % 2 else -1
    pixels = image.astype(np.float32)
    pixels = (pixels - 128) * (1 + sign * strength) + 128 + sign * 255 * strength / 2
    zoom = 1 + strength * lap / 2
    h, w = labels.shape
    crop_h, crop_w = max(1, round(h / zoom)), max(1, round(w / zoom))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).crop((left, top, left + crop_w, top + crop_h))
    mask = Image.fromarray(labels).crop((left, top, left + crop_w, top + crop_h))
    return (np.asarray(photo.resize((w, h), Image.BILINEAR)),
            np.asarray(mask.resize((w, h), Image.NEAREST)))


def write_replay(sequence: VideoSequence, out: Path, laps: int, strength: float) -> int:
    """Write ``sequence`` replayed over ``laps`` laps into the DAVIS folder ``out``; returns its frame count."""
    missing = [i for i in range(len(sequence)) if i not in sequence.mask_paths]
    if missing:
        raise ValueError(f"{sequence.name}: no ground truth for frame(s) {missing[:5]}: a replay carries the ground "
                         "truth of every frame along (a dense-ground-truth dataset is needed)")
    images = out / "JPEGImages" / "480p" / sequence.name
    masks = out / "Annotations" / "480p" / sequence.name
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    order = replay_order(len(sequence), laps)
    for position, (lap, t) in enumerate(order):
        name = f"{position:05d}"
        labels = sequence.read_mask(t)
        if lap == 0 or strength == 0:
            atomic_write(images / f"{name}.jpg", lambda tmp, src=sequence.frame_paths[t]: shutil.copyfile(src, tmp))
        else:
            image, labels = drift(sequence.read_frame(t), labels, lap, strength)
            atomic_write(images / f"{name}.jpg", lambda tmp, img=image: Image.fromarray(img).save(tmp, "JPEG", quality=95))
        write_label_png(masks / f"{name}.png", labels)
    return len(order)


def expand_dataset(source: Path, out: Path, laps: int = 3, strength: float = 0.0, year: Optional[int] = None,
                   split: str = "val", sequences: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Replay every sequence of a DAVIS-layout ``source`` split into ``out`` (see the module); returns the frames
    written per sequence name."""
    year = year or (2017 if (source / "ImageSets" / "2017").is_dir() else 2016)
    dataset = DavisDataset(source, year=year, split=split, sequences=sequences)
    counts = {}
    for name in tqdm(dataset.names, desc="replay", unit="seq"):
        counts[name] = write_replay(dataset.sequence(name), out, laps, strength)
    atomic_write_text(out / "ImageSets" / "2017" / f"{split}.txt", "".join(f"{n}\n" for n in dataset.names))
    return counts
