"""The long synthetic benchmark: videos of thousands of frames with scheduled events that separate memory
policies, generated on first use like the default data.

Every sequence is drawn by the default generator's scene model (textured background, camera motion, shapes,
shading, bending, shadows, lighting, sensor noise, crossings; no distractors) with four objects, each given one
event at a random time:

====  ===========  =====================================================================================
id    event        schedule (``T`` frames)
====  ===========  =====================================================================================
1     ``absence``  leaves across the border in 0.15-0.3 T and stays out ``absence`` frames (a second time
                   in 0.6-0.7 T when ``T >= 5 x absence``); the default 400 exceed ``capacity x mem_every``
                   for every buffer up to 64 frames at ``mem_every = 5``
2     ``drift``    its colours turn slowly (hue shift of 90-180 degrees) from 0.2 T to 0.8 T
3     ``abrupt``   its colours change at one frame in 0.4-0.6 T; it also makes the default generator's
                   short exits
4     ``late``     enters the video in 0.25-0.4 T (drawn from the first frame on which a quarter of it is
                   in view) and leaves for good in 0.7-0.85 T
====  ===========  =====================================================================================

Layout (read with :class:`LongSyntheticDataset`, protocol ``present``: each object scored from the frame
that introduces it to its last appearance, absences included)::

    ROOT/JPEGImages/<seq>/00000.jpg ...     RGB JPEG
    ROOT/Annotations/<seq>/00000.png ...    palette PNG, every frame
    ROOT/synthetic_long.json                parameters, format version and every event's frames (written last)

Command line::

    python -m stcnbuf.lab.synthetic long --root DIR [--frames 5000 2000 2000 --height 240 --width 432 ...]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from stcnbuf.datasets.folder import FolderDataset
from stcnbuf.io import atomic_write_text
from stcnbuf.lab.synthetic.cache import ensure_generated
from stcnbuf.lab.synthetic.config import GeneratorConfig
from stcnbuf.lab.synthetic.scene import Scene, SceneObject, reflect_into, smoothstep
from stcnbuf.lab.synthetic.writer import worker_map, workers_for, write_frames

FORMAT_VERSION = 3
META_FILE = "synthetic_long.json"
#: names the generator in the data it writes (a cache key, compared on reuse), not a module path
GENERATOR = "stcnbuf.data.synthetic_long"
FOLDER = "synthetic_long"   # the dataset goes into <data_dir>/synthetic_long-<key>
_SEED_STREAM = 4            # keeps these sequences apart from the default generator's splits (1, 2, 3)
EVENTS = ("absence", "drift", "abrupt", "late")
MIN_FRAMES = 200
#: a late object is drawn from the first frame on which this fraction of its area is in view
ENTRY_VISIBLE = 0.25


@dataclass(frozen=True)
class LongSyntheticConfig(GeneratorConfig):
    """Parameters of the long benchmark (all of them go into :meth:`key` and ``synthetic_long.json``)."""

    seed: int = 0
    height: int = 240
    width: int = 432
    frames: Tuple[int, ...] = (5000, 2000, 2000)
    absence: int = 400

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", tuple(int(f) for f in self.frames))
        self.check_ints(["seed", "height", "width", "absence"])
        if self.height < 64 or self.width < 64:
            raise ValueError(f"frames must be at least 64×64, got {self.height}×{self.width}")
        if not self.frames:
            raise ValueError("frames: give the length of at least one sequence")
        if self.absence < 1:
            raise ValueError(f"absence must be >= 1 frame, got {self.absence}")
        for length in self.frames:
            # the absence must fit between 0.3 T and the end with room for the object to come back
            if length < max(MIN_FRAMES, int(self.absence / 0.6) + 1):
                raise ValueError(f"every sequence needs at least {max(MIN_FRAMES, int(self.absence / 0.6) + 1)} "
                                 f"frames for an absence of {self.absence}; got {length} "
                                 "(lower data.absence or lengthen data.frames)")

    def as_dict(self) -> Dict[str, object]:
        return {"seed": self.seed, "height": self.height, "width": self.width, "frames": list(self.frames),
                "absence": self.absence}


def sequence_name(index: int, frames: int) -> str:
    return f"long_{index:02d}_{frames}f"


class _LongScene(Scene):
    """A sequence of the long benchmark: the default scene model with four objects and one event each."""

    def __init__(self, config: LongSyntheticConfig, index: int) -> None:
        if not 0 <= index < len(config.frames):
            raise ValueError(f"sequence index {index} out of range for {len(config.frames)} sequences")
        T = config.frames[index]
        rng = np.random.default_rng([config.seed, _SEED_STREAM, index])
        super().__init__(rng, sequence_name(index, T), T, config.height, config.width)
        self._add_objects(rng, len(EVENTS))
        self._place_starts(rng)
        self._add_crossings(rng, self.t, keep_in_view=True)
        self._fold_into_view()
        absent, drifting, abrupt, late = self.objects
        self._add_excursions(rng, [abrupt], self.t)
        #: event name -> {"object": id, "frames": [[first, last + 1], ...]}
        self.events: Dict[str, Dict[str, object]] = {}
        for obj in self.objects:
            obj.change[:] = 0.0
        for obj in (drifting, abrupt):
            obj.sprite_b = _recoloured(obj.sprite, float(rng.uniform(90, 180)))
        self._schedule_absences(rng, absent, config.absence)
        start, end = int(0.2 * T), int(0.8 * T)
        drifting.change[:] = smoothstep((self.t - start) / (end - start))
        self.events["drift"] = {"object": drifting.oid, "frames": [[start, end]]}
        at = int(rng.integers(int(0.4 * T), int(0.6 * T)))
        abrupt.change[at:] = 1.0
        self.events["abrupt"] = {"object": abrupt.oid, "frames": [[at, at + 1]]}
        self._schedule_late(rng, late)

    def _fold_into_view(self) -> None:
        """Reflect every object's path at the frame's borders (a bounce) so that its centre stays at least half
        its radius inside: over thousands of frames its drift would otherwise take it out of view for long
        stretches no event schedules. The scheduled exits are added afterwards."""
        H, W = self.height, self.width
        for obj in self.objects:
            margin = np.minimum(0.5 * obj.radius * obj.scale, 0.25 * min(H, W))
            for axis, size in ((0, W), (1, H)):
                obj.position[:, axis] = reflect_into(obj.position[:, axis], margin, size - 2 * margin)

    def _schedule_absences(self, rng: np.random.Generator, obj: SceneObject, length: int) -> None:
        T = self.num_frames
        windows = [(0.15, 0.3)] + ([(0.6, 0.7)] if T >= 5 * length else [])
        spans = []
        for lo, hi in windows:
            start = int(rng.integers(int(lo * T), int(hi * T)))
            self._hide(obj, start, start + length)
            spans.append([start, start + length])
        self.events["absence"] = {"object": obj.oid, "frames": spans}

    def _schedule_late(self, rng: np.random.Generator, obj: SceneObject) -> None:
        T = self.num_frames
        enter = int(rng.integers(int(0.25 * T), int(0.4 * T)))
        leave = int(rng.integers(int(0.7 * T), int(0.85 * T)))
        self._hide(obj, 0, enter)
        self._hide(obj, leave, T)
        area = obj.area
        for frame in range(enter, leave):
            _, _, full = self.render(frame, masks=True)
            if full[obj.oid].sum() >= ENTRY_VISIBLE * area * float(obj.scale[frame]) ** 2:
                obj.visible_from = frame
                break
        else:
            raise RuntimeError(f"{self.name}: the late object never comes into view")
        self.events["late"] = {"object": obj.oid, "frames": [[obj.visible_from, leave]]}

    def _hide(self, obj: SceneObject, start: int, end: int) -> None:
        """Keep ``obj`` out of view on frames ``start .. end - 1``, leaving across the nearest border in the
        frames before ``start`` (none when 0) and coming back after ``end`` (never when ``T``)."""
        T, t = self.num_frames, self.t
        hidden = (t >= start) & (t < end)
        for ramp in (24, 48, 96, 192):
            leaving = smoothstep((t - (start - ramp)) / ramp) if start > 0 else np.ones_like(t)
            back = 1.0 - smoothstep((t - end) / ramp) if end < T else np.ones_like(t)
            if self._push_out(obj, leaving * back, hidden, int(np.clip((start + end) // 2, 0, T - 1)), ramp):
                return
        raise RuntimeError(f"{self.name}: object {obj.oid} cannot leave the frame at a plausible speed")


def _recoloured(sprite: np.ndarray, degrees: float) -> np.ndarray:
    """``sprite`` (RGB premultiplied by alpha, alpha in channel 3) with its hues turned by ``degrees``."""
    rgb = sprite[..., :3].astype(np.float32) / 255.0
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + degrees) % 360
    turned = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.concatenate([turned, sprite[..., 3:]], axis=2))


def generate_sequence(config: LongSyntheticConfig, index: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """The frames of sequence ``index``: (RGB frame H×W×3 uint8, label map H×W uint8) each."""
    return iter(_LongScene(config, index))


def _write_sequence_job(args: Tuple[LongSyntheticConfig, int, str]) -> Tuple[str, Dict[str, Dict[str, object]]]:
    config, index, root = args
    scene = _LongScene(config, index)
    write_frames(iter(scene), Path(root) / "JPEGImages" / scene.name, Path(root) / "Annotations" / scene.name)
    return scene.name, scene.events


def write_dataset(config: LongSyntheticConfig, root: Path, workers: Optional[int] = None) -> Path:
    """Write every sequence into ``root`` (created if needed); ``synthetic_long.json`` is written last."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / META_FILE).unlink(missing_ok=True)
    workers = workers_for(sum(config.frames), workers)
    jobs = [(config, i, str(root)) for i in range(len(config.frames))]
    with worker_map(min(workers, len(jobs))) as jobs_map:
        events = dict(tqdm(jobs_map(_write_sequence_job, jobs), total=len(jobs), desc="synthetic long",
                           unit="seq"))
    atomic_write_text(root / META_FILE, json.dumps({**metadata(config), "events": events}, indent=2,
                                                   sort_keys=True) + "\n")
    return root


def metadata(config: LongSyntheticConfig) -> dict:
    return {"format_version": FORMAT_VERSION, "generator": GENERATOR, "key": config.key(),
            "config": config.as_dict(), "layout": "folder"}


def ensure_long_dataset(config: LongSyntheticConfig, data_dir: Path) -> Path:
    """The benchmark for ``config`` under ``data_dir`` (``synthetic_long-<key>``), generated if absent or
    invalid."""
    return ensure_generated(data_dir, f"{FOLDER}-{config.key()}", {"meta_file": META_FILE, **metadata(config)},
                            lambda folder: write_dataset(config, folder))


class LongSyntheticDataset(FolderDataset):
    """The long synthetic benchmark, generated into ``data_dir`` on first use, read as a folder dataset:
    each object's first mask introduces it, and it is scored from there to its last appearance."""

    def __init__(self, data_dir: str | Path, sequences: Optional[Sequence[str]] = None,
                 shorter_side: Optional[int] = None, resize: str = "stcn", seed: int = 0, height: int = 240,
                 width: int = 432,
                 frames: Sequence[int] = (5000, 2000, 2000), absence: int = 400) -> None:
        self.config = LongSyntheticConfig(seed, height, width, tuple(frames), absence)
        root = ensure_long_dataset(self.config, Path(data_dir).expanduser())
        super().__init__(root, sequences=sequences, annotation_use="new_objects", shorter_side=shorter_side,
                         protocol="present", resize=resize)
        self.name = "synthetic_long"
        self.events = json.loads((root / META_FILE).read_text())["events"]
