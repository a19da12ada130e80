"""A second synthetic generator that training never sees: what a model trained on ``data=synthetic`` transfers.

Its scenes are built from other parts than the default generator's (only the writing and caching of the
generators are shared):

- **stage**: a sky (gradient and clouds) over a ground plane seen in perspective (tiles, planks, gravel or
  grass, fog towards the horizon) with boxes standing on it (unannotated clutter that occludes what is behind
  it), seen by a camera that pans with parallax;
- **actors** move on the ground: articulated creatures (body, head, swinging legs), glyphs (thick letters and
  digits: holes and thin strokes) and swarms (disks circling one centre: one object in several parts). Their
  size follows their depth and so does their drawing order (occlusions change order); each casts a contact
  shadow. 1 to ``max_objects`` actors are annotated and 0 to 2 more are distractors, some in the colours of
  an annotated one;
- **light and sensor**: cloud shadows drifting over the scene, exposure and colour-temperature drift, a slight
  blur and sensor noise.

Every annotated actor is placed to be at least 60 % in view in frame 0 (the best of 40 placements where
none reaches it); later it may walk out sideways and come back.

Layout (read as DAVIS 2017, split ``val``)::

    ROOT/JPEGImages/480p/<seq>/00000.jpg ...   ROOT/Annotations/480p/<seq>/00000.png ...
    ROOT/ImageSets/2017/val.txt                ROOT/synthetic_transfer.json (parameters, written last)

Sequence ``i`` draws every random choice from ``np.random.default_rng([seed, 11, i])``.

Command line::

    python -m stcnbuf.lab.synthetic transfer --root DIR [--seed N --height H --width W ...]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from stcnbuf.datasets.davis import DavisDataset
from stcnbuf.io import atomic_write_text
from stcnbuf.lab.synthetic.cache import ensure_generated
from stcnbuf.lab.synthetic.config import GeneratorConfig
from stcnbuf.lab.synthetic.scene import DRIFT_LIMIT, drifting_offsets, overlap
from stcnbuf.lab.synthetic.writer import worker_map, workers_for, write_frames

FORMAT_VERSION = 1
META_FILE = "synthetic_transfer.json"
#: names the generator in the data it writes (a cache key, compared on reuse), not a module path
GENERATOR = "stcnbuf.data.synthetic_transfer"
FOLDER = "synthetic_transfer"   # the dataset goes into <data_dir>/synthetic_transfer-<key>
_SEED_STREAM = 11           # keeps these sequences apart from the other generators' streams
KINDS = ("creature", "glyph", "swarm")
GLYPHS = "ABEGHKMNPRSWXZ02345689&%#@"
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX)
MIN_VISIBLE = 0.6           # fraction of every annotated actor in view in frame 0
CAMERA_HEIGHT = 1.5         # world units above the ground
TILE = 256                  # ground texture tile, pixels


@dataclass(frozen=True)
class TransferConfig(GeneratorConfig):
    """Parameters of the transfer set (all of them go into :meth:`key` and ``synthetic_transfer.json``)."""

    seed: int = 0
    height: int = 240
    width: int = 432
    num_sequences: int = 8
    frames: int = 60
    max_objects: int = 3

    def __post_init__(self) -> None:
        self.check_ints()
        if self.height < 64 or self.width < 64:
            raise ValueError(f"frames must be at least 64×64, got {self.height}×{self.width}")
        if self.num_sequences < 1 or self.frames < 2:
            raise ValueError(f"need at least 1 sequence of 2 frames, got {self.num_sequences} of {self.frames}")
        if not 1 <= self.max_objects <= 8:
            raise ValueError(f"max_objects must be in 1..8, got {self.max_objects}")


def sequence_name(index: int) -> str:
    return f"transfer_{index:03d}"


# ----------------------------------------------------------------------------------------------------------
# Stage: sky, ground, boxes


def _lowfreq(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth random field in 0..1 (``h×w`` float32) varying over about ``cell`` pixels."""
    gh, gw = int(h / cell) + 3, int(w / cell) + 3
    grid = rng.random((gh, gw)).astype(np.float32)
    field_ = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)[:h, :w]
    field_ = cv2.GaussianBlur(field_, (0, 0), max(1.0, cell / 4))
    lo, hi = float(field_.min()), float(field_.max())
    return (field_ - lo) / max(hi - lo, 1e-6)


def _periodic_waves(rng: np.random.Generator, count: int, max_freq: int) -> np.ndarray:
    """A ``TILE×TILE`` field in 0..1 that tiles seamlessly: random plane waves of integer frequencies."""
    yy, xx = np.mgrid[0:TILE, 0:TILE].astype(np.float32) * (2 * math.pi / TILE)
    acc = np.zeros((TILE, TILE), np.float32)
    for _ in range(count):
        fx, fy = rng.integers(-max_freq, max_freq + 1, 2)
        acc += rng.uniform(0.3, 1.0) * np.sin(fx * xx + fy * yy + rng.uniform(0, 2 * math.pi))
    lo, hi = float(acc.min()), float(acc.max())
    return (acc - lo) / max(hi - lo, 1e-6)


def _ground_tile(rng: np.random.Generator) -> np.ndarray:
    """A seamless ``TILE×TILE×3`` float32 ground texture: tiles, planks, gravel or grass."""
    kind = str(rng.choice(("tiles", "planks", "gravel", "grass")))
    base = np.array(rng.uniform(0.25, 0.75, 3), np.float32)
    if kind == "grass":
        base = np.array([rng.uniform(0.2, 0.45), rng.uniform(0.45, 0.7), rng.uniform(0.1, 0.3)], np.float32)
    shade = _periodic_waves(rng, 12, 9)
    tile = base[None, None, :] * (0.75 + 0.5 * shade[..., None])
    if kind == "tiles":
        n = int(rng.choice((4, 8)))
        cell = TILE // n
        colours = base * rng.uniform(0.75, 1.2, (n, n, 1)).astype(np.float32)
        tile = np.kron(colours, np.ones((cell, cell, 1), np.float32)) * (0.9 + 0.2 * shade[..., None])
        grout = max(2, cell // 12)
        lines = (np.arange(TILE) % cell) < grout
        tile[lines, :] *= 0.45
        tile[:, lines] *= 0.45
    elif kind == "planks":
        n = int(rng.choice((4, 8, 16)))
        width = TILE // n
        brightness = rng.uniform(0.75, 1.2, n).astype(np.float32)
        column = np.repeat(brightness, width)
        grain = _periodic_waves(rng, 6, 3) * 0.6 + 0.4 * np.sin(np.arange(TILE) * (2 * math.pi * n * 3 / TILE))[:, None]
        tile = base[None, None, :] * column[None, :, None] * (0.8 + 0.3 * grain[..., None])
        tile[:, (np.arange(TILE) % width) < 2] *= 0.5
    elif kind == "gravel":
        layer = np.clip(tile * 255, 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(150, 300))):
            r = int(rng.integers(2, 9))
            centre = rng.integers(0, TILE, 2)
            colour = tuple(float(c) for c in np.clip(base * rng.uniform(0.5, 1.4) * 255, 0, 255))
            for dy in (-TILE, 0, TILE):          # drawn with its wrapped copies: the tile stays seamless
                for dx in (-TILE, 0, TILE):
                    cv2.circle(layer, (int(centre[0] + dx), int(centre[1] + dy)), r, colour, -1, cv2.LINE_AA)
        tile = layer.astype(np.float32) / 255
    else:  # grass: fine vertical streaks
        streaks = _periodic_waves(rng, 10, 40)
        tile = tile * (0.7 + 0.5 * streaks[..., None])
    return np.clip(tile, 0, 1).astype(np.float32)


@dataclass
class _Box:
    """A box standing on the ground at world ``(x, z)``: ``width`` wide, ``height`` tall, ``depth`` deep."""

    x: float
    z: float
    width: float
    height: float
    depth: float
    colour: np.ndarray


@dataclass
class _Actor:
    """Something that moves on the ground; ``oid`` 0 is a distractor (never labelled)."""

    oid: int
    kind: str
    size: float                  # world height
    colours: np.ndarray          # 3×3 float32 0..1
    u: np.ndarray = field(default_factory=lambda: np.zeros(0))   # T lateral position, -1..1 spans the frame
    z: np.ndarray = field(default_factory=lambda: np.zeros(0))   # T depth
    params: Dict[str, object] = field(default_factory=dict)


class _Stage:
    """One sequence of the transfer set, everything drawn from the sequence's generator at construction."""

    def __init__(self, config: TransferConfig, index: int) -> None:
        if not 0 <= index < config.num_sequences:
            raise ValueError(f"sequence index {index} out of range for {config.num_sequences} sequences")
        rng = np.random.default_rng([config.seed, _SEED_STREAM, index])
        self.name = sequence_name(index)
        self.num_frames = T = config.frames
        H, W = self.height, self.width = config.height, config.width
        self.horizon = H * rng.uniform(0.25, 0.42)
        self.focal = W * rng.uniform(0.8, 1.1)
        self.z_bottom = self.focal * CAMERA_HEIGHT / (H - self.horizon)   # depth seen at the bottom row
        # camera: lateral position (world units) with a persistent random velocity
        velocity = np.zeros(T)
        sigma = rng.uniform(0.004, 0.02)
        for t in range(1, T):
            velocity[t] = 0.92 * velocity[t - 1] + rng.normal(0, sigma)
        self.cam_x = np.cumsum(velocity)
        self._setup_sky(rng)
        self.ground = _ground_tile(rng)
        self.ground_scale = rng.uniform(30, 60)        # texture pixels per world unit
        self.fog_colour = self.sky_bottom
        self.fog_depth = rng.uniform(10, 25) * self.z_bottom / 4
        span = (W / 2) * self.z_bottom * 4 / self.focal + abs(self.cam_x).max()
        self.boxes = [self._box(rng, span) for _ in range(int(rng.integers(2, 6)))]
        count = int(rng.integers(1, config.max_objects + 1))
        self.actors = [self._actor(rng, k + 1) for k in range(count)]
        distractors = int(rng.integers(0, 3))
        for _ in range(distractors):
            twin = self.actors[int(rng.integers(count))] if rng.random() < 0.5 else None
            self.actors.append(self._actor(rng, 0, twin))
        self._place(rng)
        self._setup_light(rng)

    # -- construction ---------------------------------------------------------------------------------------

    def _setup_sky(self, rng: np.random.Generator) -> None:
        hue = rng.uniform(0.5, 0.7) if rng.random() < 0.7 else rng.uniform(0.0, 0.12)
        top = np.array(cv2.cvtColor(np.float32([[[hue * 360, rng.uniform(0.3, 0.8), rng.uniform(0.45, 0.9)]]]),
                                    cv2.COLOR_HSV2RGB)[0, 0])
        self.sky_bottom = np.clip(top * 0.4 + rng.uniform(0.55, 0.8), 0, 1).astype(np.float32)
        h = max(1, int(math.ceil(self.horizon)) + 1)
        pan = int(abs(self.cam_x).max() * self.focal / self.z_bottom * 0.2) + 4
        w = self.width + 2 * pan
        ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        sky = top[None, None, :] * (1 - ramp) + self.sky_bottom[None, None, :] * ramp
        clouds = _lowfreq(rng, h, w, max(8.0, self.width / rng.uniform(4, 9)))
        cover = rng.uniform(0.2, 0.7)
        sky = sky + np.clip((clouds - (1 - cover)) / max(cover, 1e-3), 0, 1)[..., None] * (0.95 - sky) * 0.9
        self.sky = sky.astype(np.float32)
        self.sky_pan = pan

    def _box(self, rng: np.random.Generator, span: float) -> _Box:
        z = self.z_bottom * rng.uniform(1.15, 4.0)
        colour = np.array(rng.uniform(0.15, 0.85, 3), np.float32)
        return _Box(float(rng.uniform(-span, span)), float(z), float(rng.uniform(0.6, 2.2)),
                    float(rng.uniform(0.4, 1.4)), float(rng.uniform(0.4, 1.5)), colour)

    def _actor(self, rng: np.random.Generator, oid: int, twin: Optional[_Actor] = None) -> _Actor:
        kind = twin.kind if twin is not None else str(rng.choice(KINDS))
        if twin is not None:
            colours = np.clip(twin.colours * rng.uniform(0.85, 1.15, (1, 3)), 0, 1).astype(np.float32)
        else:
            hues = rng.uniform(0, 360) + np.array([0, rng.uniform(30, 180), rng.uniform(-120, -30)])
            hsv = np.stack([hues % 360, rng.uniform(0.4, 1.0, 3), rng.uniform(0.35, 1.0, 3)], 1).astype(np.float32)
            colours = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]
        size = float(rng.uniform(0.8, 1.4)) if kind != "swarm" else float(rng.uniform(0.7, 1.2))
        params: Dict[str, object] = {"phase": float(rng.uniform(0, 2 * math.pi)), "pace": float(rng.uniform(0.15, 0.45)),
                                     "wobble": float(rng.uniform(3, 15))}
        if kind == "creature":
            params.update(legs=int(rng.choice((2, 4))), aspect=float(rng.uniform(0.9, 1.8)),
                          swing=float(rng.uniform(0.25, 0.6)), spots=rng.uniform(-0.8, 0.8, (int(rng.integers(0, 6)), 3)),
                          facing=float(rng.choice((-1.0, 1.0))))
        elif kind == "glyph":
            params.update(char=str(rng.choice(list(GLYPHS))), font=int(rng.choice(FONTS)),
                          weight=float(rng.uniform(0.12, 0.22)))
        else:
            n = int(rng.integers(4, 9))
            params.update(radii=rng.uniform(0.08, 0.15, n), orbits=rng.uniform(0.1, 0.35, n),
                          spins=rng.uniform(-0.25, 0.25, n), angles=rng.uniform(0, 2 * math.pi, n))
        return _Actor(oid, kind, size, colours, params=params)

    def _paths(self, actor: _Actor, u0: float, z0: float) -> None:
        """Lateral position and depth over time: persistent random velocities, reflected at the limits."""
        T = self.num_frames
        u, z = np.empty(T), np.empty(T)
        u[0], z[0] = u0, z0
        vu, vz = actor.params["vu"].copy(), actor.params["vz"].copy()
        z_lo, z_hi = self.z_bottom * 1.08, self.z_bottom * 3.2
        for t in range(1, T):
            u[t], z[t] = u[t - 1] + vu[t], z[t - 1] * (1 + vz[t])
            if abs(u[t]) > 1.35:            # out of view far enough: turn back
                vu[t:] *= -1
                u[t] = math.copysign(2.7, u[t]) - u[t]
            if not z_lo <= z[t] <= z_hi:
                vz[t:] *= -1
                z[t] = float(np.clip(z[t], z_lo, z_hi))
        actor.u, actor.z = u, z

    def _place(self, rng: np.random.Generator) -> None:
        """Paths for every actor; start positions redrawn until each annotated actor is in view in frame 0."""
        T = self.num_frames
        for actor in self.actors:
            vu = np.zeros(T)
            vz = np.zeros(T)
            speed = rng.uniform(0.004, 0.03)
            for t in range(1, T):
                vu[t] = 0.9 * vu[t - 1] + rng.normal(0, speed * 0.45)
                vz[t] = 0.9 * vz[t - 1] + rng.normal(0, speed * 0.25)
            actor.params["vu"], actor.params["vz"] = vu, vz
        best, best_score = None, -1.0
        for _ in range(40):
            starts = [(float(rng.uniform(-0.65, 0.65)), float(self.z_bottom * rng.uniform(1.1, 2.6)))
                      for _ in self.actors]
            for actor, (u0, z0) in zip(self.actors, starts):
                self._paths(actor, u0, z0)
            score = self._frame0_visibility()
            if score > best_score:
                best, best_score = starts, score
            if score >= MIN_VISIBLE:
                break
        for actor, (u0, z0) in zip(self.actors, best):
            self._paths(actor, u0, z0)

    def _frame0_visibility(self) -> float:
        _, labels = self.render(0, light=False)
        fractions = []
        for actor in self.actors:
            if actor.oid:
                _, alpha, _ = self._draw_actor(actor, 0)
                fractions.append(float((labels == actor.oid).sum()) / max(float((alpha > 127).sum()), 1.0))
        return min(fractions)

    def _setup_light(self, rng: np.random.Generator) -> None:
        T, H, W = self.num_frames, self.height, self.width
        t = np.arange(T, dtype=np.float64)
        unit = min(H, W) / 240
        pad, self.cloud_offset = drifting_offsets(t, rng.uniform(-1.5, 1.5, 2) * unit, DRIFT_LIMIT * unit)
        self.cloud_shade = _lowfreq(rng, H + pad * 2, W + pad * 2, min(H, W) / rng.uniform(1.5, 3.5))
        self.cloud_depth = rng.uniform(0.1, 0.35)
        self.exposure = 1 + rng.uniform(0.03, 0.12) * np.sin(2 * math.pi * t / rng.uniform(30, 120) + rng.uniform(0, 6.3))
        self.temperature = rng.uniform(0.02, 0.08) * np.sin(2 * math.pi * t / rng.uniform(40, 160) + rng.uniform(0, 6.3))
        self.blur = float(rng.uniform(0, 0.9))
        self.noise = float(rng.uniform(0.5, 3.5)) / 255
        self.noise_seed = int(rng.integers(1 << 31))

    # -- drawing --------------------------------------------------------------------------------------------

    def _background(self, frame: int) -> np.ndarray:
        H, W = self.height, self.width
        image = np.empty((H, W, 3), np.float32)
        top = int(math.ceil(self.horizon))
        shift = int(round(self.cam_x[frame] * self.focal / self.z_bottom * 0.2))
        start = int(np.clip(self.sky_pan + shift, 0, self.sky.shape[1] - W))
        image[:top] = self.sky[:top, start:start + W]
        rows = np.arange(top, H, dtype=np.float32) + 0.5
        depth = self.focal * CAMERA_HEIGHT / np.maximum(rows - self.horizon, 0.5)
        xs = np.arange(W, dtype=np.float32) + 0.5 - W / 2
        world_x = self.cam_x[frame] + xs[None, :] * depth[:, None] / self.focal
        map_x = np.mod(world_x * self.ground_scale, TILE).astype(np.float32)
        map_y = np.mod(np.broadcast_to(depth[:, None] * self.ground_scale, map_x.shape), TILE).astype(np.float32)
        ground = cv2.remap(self.ground, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        fog = (1 - np.exp(-depth / self.fog_depth)).astype(np.float32)[:, None, None]
        image[top:] = ground * (1 - fog) + self.fog_colour[None, None, :] * fog
        return image

    def _screen(self, world_x: float, depth: float) -> Tuple[float, float, float]:
        """Screen x and y of a ground point, and pixels per world unit there."""
        scale = self.focal / depth
        return self.width / 2 + world_x * scale, self.horizon + CAMERA_HEIGHT * scale, scale

    def _draw_box(self, image: np.ndarray, labels: np.ndarray, box: _Box, frame: int) -> None:
        x0, y0, s0 = self._screen(box.x - box.width / 2 - self.cam_x[frame], box.z)
        x1, _, _ = self._screen(box.x + box.width / 2 - self.cam_x[frame], box.z)
        top = y0 - box.height * s0
        bx0, by, s1 = self._screen(box.x - box.width / 2 - self.cam_x[frame], box.z + box.depth)
        bx1, _, _ = self._screen(box.x + box.width / 2 - self.cam_x[frame], box.z + box.depth)
        back_top = by - box.height * s1
        front = np.array([[x0, top], [x1, top], [x1, y0], [x0, y0]])
        lid = np.array([[x0, top], [x1, top], [bx1, back_top], [bx0, back_top]])
        H, W = labels.shape
        left, right = int(max(0, math.floor(min(x0, bx0)))), int(min(W, math.ceil(max(x1, bx1)) + 1))
        upper, lower = int(max(0, math.floor(min(top, back_top)))), int(min(H, math.ceil(y0) + 1))
        if right <= left or lower <= upper:
            return
        corner = np.array([left, upper])
        for polygon, light in ((lid, 1.25), (front, 0.85)):
            mask = np.zeros((lower - upper, right - left), np.uint8)
            cv2.fillPoly(mask, [np.round((polygon - corner) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
            _paste(image, labels, np.broadcast_to(np.clip(box.colour * light, 0, 1), mask.shape + (3,)), mask,
                   left, upper, 0)

    def _draw_actor(self, actor: _Actor, frame: int) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int]]:
        """The actor at ``frame``: RGB float32 and alpha uint8 on a local canvas, and the canvas's top-left
        corner in the frame."""
        x, y, scale = self._screen(0.0, float(actor.z[frame]))
        x += actor.u[frame] * self.width / 2
        h = actor.size * scale                             # pixels
        side = int(math.ceil(1.6 * h)) + 8
        origin = (int(round(x)) - side // 2, int(round(y)) - side + int(0.15 * h) + 4)
        foot = (x - origin[0], y - origin[1])
        canvas = _Canvas(side)
        p, t = actor.params, frame
        c0, c1, c2 = actor.colours
        if actor.kind == "creature":
            leg, b = 0.35 * h, 0.17 * h
            a = b * p["aspect"]
            centre = (foot[0], foot[1] - leg - b)
            for k in range(p["legs"]):
                hip_x = centre[0] + (k - (p["legs"] - 1) / 2) * (1.4 * a / max(p["legs"], 2))
                angle = p["swing"] * math.sin(p["phase"] + p["pace"] * t + k * math.pi)
                end = (hip_x + leg * math.sin(angle), centre[1] + b * 0.5 + leg * math.cos(angle))
                canvas.line((hip_x, centre[1]), end, max(1, int(0.08 * h)), c2)
            body = canvas.ellipse(centre, (a, b), c0)
            for sx, sy, sr in p["spots"]:
                spot = canvas.mask_ellipse((centre[0] + sx * a * 0.7, centre[1] + sy * b * 0.6), (b * 0.3 * (1 + sr / 2),) * 2)
                canvas.paint(np.minimum(spot, body), c1, opaque=False)
            canvas.ellipse((centre[0] + p["facing"] * a * 0.85, centre[1] - b * 0.9), (0.5 * b, 0.5 * b), c1)
        elif actor.kind == "glyph":
            height_px = 0.85 * h
            font_scale = height_px / 22.0
            thickness = max(1, int(p["weight"] * height_px * 0.5))
            (tw, _), _ = cv2.getTextSize(p["char"], p["font"], font_scale, thickness)
            mask = np.zeros((side, side), np.uint8)
            cv2.putText(mask, p["char"], (int(foot[0] - tw / 2), int(foot[1] - 0.1 * h)), p["font"], font_scale, 255,
                        thickness, cv2.LINE_AA)
            angle = p["wobble"] * math.sin(p["phase"] + p["pace"] * t * 0.5)
            rot = cv2.getRotationMatrix2D((foot[0], foot[1] - 0.45 * h), angle, 1.0)
            canvas.alpha = cv2.warpAffine(mask, rot, (side, side), flags=cv2.INTER_LINEAR)
            ramp = np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
            canvas.rgb[:] = c0 * (1 - ramp) + c1 * ramp
        else:  # swarm
            centre = (foot[0], foot[1] - 0.5 * h)
            for r, orbit, spin, angle0 in zip(p["radii"], p["orbits"], p["spins"], p["angles"]):
                angle = angle0 + spin * t
                at = (centre[0] + orbit * h * math.cos(angle), centre[1] + orbit * h * math.sin(angle) * 0.8)
                canvas.ellipse(at, (r * h, r * h), c0)
                glint = canvas.mask_ellipse((at[0] - 0.3 * r * h, at[1] - 0.3 * r * h), (0.35 * r * h,) * 2)
                canvas.paint(glint, np.minimum(1.0, c0 * 0.5 + 0.5), opaque=False)
        # light from above: brighter top, darker bottom
        shade = np.linspace(1.15, 0.75, side, dtype=np.float32)[:, None, None]
        return np.clip(canvas.rgb * shade, 0, 1), canvas.alpha, origin

    def _shadow(self, shade: np.ndarray, actor: _Actor, frame: int) -> None:
        x, y, scale = self._screen(0.0, float(actor.z[frame]))
        x += actor.u[frame] * self.width / 2
        h = actor.size * scale
        cv2.ellipse(shade, (int(round(x)), int(round(y))), (max(1, int(0.45 * h)), max(1, int(0.08 * h))), 0, 0, 360,
                    0.5, -1, cv2.LINE_AA)

    def render(self, frame: int, light: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """Frame ``frame``: RGB image ``H×W×3`` uint8 and label map ``H×W`` uint8."""
        H, W = self.height, self.width
        image = self._background(frame)
        shade = np.zeros((H, W), np.float32)
        for actor in self.actors:
            self._shadow(shade, actor, frame)
        shade = cv2.GaussianBlur(shade, (0, 0), max(1.0, 0.01 * W))
        image *= (1 - shade)[..., None]
        labels = np.zeros((H, W), np.uint8)
        items = [(box.z, 0, i) for i, box in enumerate(self.boxes)] + \
                [(float(a.z[frame]), 1, i) for i, a in enumerate(self.actors)]
        for _, is_actor, i in sorted(items, key=lambda item: -item[0]):   # far to near
            if not is_actor:
                self._draw_box(image, labels, self.boxes[i], frame)
                continue
            actor = self.actors[i]
            rgb, alpha, (x0, y0) = self._draw_actor(actor, frame)
            _paste(image, labels, rgb, alpha, x0, y0, actor.oid)
        if light:
            oy, ox = self.cloud_offset[frame]
            clouds = self.cloud_shade[oy:oy + H, ox:ox + W]
            image *= (1 - self.cloud_depth * clouds)[..., None] * self.exposure[frame]
            image *= np.array([1 + self.temperature[frame], 1.0, 1 - self.temperature[frame]], np.float32)
            if self.blur > 0.3:
                image = cv2.GaussianBlur(image, (0, 0), self.blur)
            noise = np.random.default_rng([self.noise_seed, frame]).standard_normal(image.shape, np.float32)
            image += noise * np.float32(self.noise)
        return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8), labels

    def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        for frame in range(self.num_frames):
            yield self.render(frame)


class _Canvas:
    """A square local canvas: RGB float32 and an anti-aliased alpha uint8, painted part by part."""

    def __init__(self, side: int) -> None:
        self.rgb = np.zeros((side, side, 3), np.float32)
        self.alpha = np.zeros((side, side), np.uint8)

    def mask_ellipse(self, centre: Tuple[float, float], axes: Tuple[float, float]) -> np.ndarray:
        mask = np.zeros_like(self.alpha)
        c = (int(round(centre[0] * 16)), int(round(centre[1] * 16)))
        cv2.ellipse(mask, c, (max(16, int(round(axes[0] * 16))), max(16, int(round(axes[1] * 16)))), 0, 0, 360, 255, -1,
                    cv2.LINE_AA, shift=4)
        return mask

    def paint(self, mask: np.ndarray, colour: np.ndarray, opaque: bool = True) -> np.ndarray:
        """Paint ``colour`` through ``mask``; ``opaque`` parts also add to the alpha (a part of the object)."""
        weight = mask.astype(np.float32)[..., None] / 255
        self.rgb[:] = self.rgb * (1 - weight) + np.asarray(colour, np.float32) * weight
        if opaque:
            np.maximum(self.alpha, mask, out=self.alpha)
        return mask

    def ellipse(self, centre: Tuple[float, float], axes: Tuple[float, float], colour: np.ndarray) -> np.ndarray:
        return self.paint(self.mask_ellipse(centre, axes), colour)

    def line(self, a: Tuple[float, float], b: Tuple[float, float], thickness: int, colour: np.ndarray) -> np.ndarray:
        mask = np.zeros_like(self.alpha)
        cv2.line(mask, (int(round(a[0] * 16)), int(round(a[1] * 16))), (int(round(b[0] * 16)), int(round(b[1] * 16))),
                 255, thickness, cv2.LINE_AA, shift=4)
        return self.paint(mask, colour)


def _paste(image: np.ndarray, labels: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x0: int, y0: int,
           oid: int) -> None:
    """Composite a local canvas at ``(x0, y0)`` (clipped to the frame); its opaque pixels take label ``oid``."""
    window = overlap(labels.shape, alpha.shape, x0, y0)
    if window is None:
        return
    inside, part = window
    a = alpha[part]
    weight = a.astype(np.float32)[..., None] / 255
    roi = image[inside]
    roi[:] = roi * (1 - weight) + rgb[part] * weight
    labels[inside][a > 127] = oid


# ----------------------------------------------------------------------------------------------------------
# Writing and reading


def generate_sequence(config: TransferConfig, index: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """The frames of sequence ``index``: (RGB frame H×W×3 uint8, label map H×W uint8) each."""
    return iter(_Stage(config, index))


def _write_sequence_job(args: Tuple[TransferConfig, int, str]) -> str:
    config, index, root = args
    name = sequence_name(index)
    write_frames(generate_sequence(config, index), Path(root) / "JPEGImages" / "480p" / name,
                 Path(root) / "Annotations" / "480p" / name)
    return name


def metadata(config: TransferConfig) -> dict:
    return {"format_version": FORMAT_VERSION, "generator": GENERATOR, "key": config.key(),
            "config": config.as_dict(), "layout": "davis2017", "split": "val"}


def write_dataset(config: TransferConfig, root: Path, workers: Optional[int] = None) -> Path:
    """Write every sequence into ``root`` (created if needed); ``synthetic_transfer.json`` is written last."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / META_FILE).unlink(missing_ok=True)
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    workers = workers_for(config.num_sequences * config.frames, workers)
    jobs = [(config, i, str(root)) for i in range(config.num_sequences)]
    with worker_map(min(workers, len(jobs))) as jobs_map:
        names = list(tqdm(jobs_map(_write_sequence_job, jobs), total=len(jobs), desc="synthetic transfer",
                          unit="seq"))
    atomic_write_text(sets / "val.txt", "".join(f"{n}\n" for n in names))
    atomic_write_text(root / META_FILE, json.dumps(metadata(config), indent=2, sort_keys=True) + "\n")
    return root


def ensure_transfer_dataset(config: TransferConfig, data_dir: Path) -> Path:
    """The transfer set for ``config`` under ``data_dir`` (``synthetic_transfer-<key>``), generated if absent or
    invalid (see :func:`~stcnbuf.lab.synthetic.cache.ensure_generated`)."""
    return ensure_generated(data_dir, f"{FOLDER}-{config.key()}",
                            {"meta_file": META_FILE, **metadata(config)}, lambda folder: write_dataset(config, folder))


class TransferSyntheticDataset(DavisDataset):
    """The transfer set, generated into ``data_dir`` on first use and read as DAVIS 2017 (split ``val``)."""

    def __init__(self, data_dir: str | Path, sequences: Optional[Sequence[str]] = None,
                 shorter_side: Optional[int] = None, resize: str = "stcn", **generator: int) -> None:
        self.config = TransferConfig(**generator)
        root = ensure_transfer_dataset(self.config, Path(data_dir).expanduser())
        super().__init__(root, year=2017, split="val", sequences=sequences, shorter_side=shorter_side, resize=resize)
        self.name = "synthetic_transfer"
