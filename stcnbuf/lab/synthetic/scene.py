"""The default scene model, which the default and the long generators draw their sequences with: a textured
background seen by a moving camera, textured shapes that move, rotate, scale, bend, cast shadows, occlude each
other, leave the frame and come back, under drifting light and sensor noise; and the geometry helpers every
generator shares."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
from numpy.typing import ArrayLike

from stcnbuf.lab.synthetic.shapes import premultiply, shape_alpha, shaded
from stcnbuf.lab.synthetic.textures import background, object_texture, smooth_noise

#: a light field drifts at most this many ``unit`` pixels from where it started, then turns back
DRIFT_LIMIT = 2000
_NOISE_PAD = 32   # noise images are this much larger than a frame: each frame takes them at a random offset


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth cubic ramp between."""
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _sines(rng: np.random.Generator, t: np.ndarray, amplitudes: Tuple[float, float], periods: Tuple[float, float],
           n: int, anchored: bool = True) -> np.ndarray:
    """A sum of ``n`` random sinusoids over ``t`` (0 at t=0 when anchored)."""
    out = np.zeros_like(t, dtype=np.float64)
    for _ in range(n):
        a, p, phi = rng.uniform(*amplitudes), rng.uniform(*periods), rng.uniform(0, 2 * math.pi)
        out += a * (np.sin(2 * math.pi * t / p + phi) - (math.sin(phi) if anchored else 0.0))
    return out


@dataclass
class SceneObject:
    """A textured sprite moving through a scene: an annotated object (``oid`` >= 1) or a distractor (0)."""

    oid: int
    sprite: np.ndarray            # S×S×4 uint8, RGB premultiplied by alpha, alpha in channel 3 (first look)
    sprite_b: Optional[np.ndarray]  # second look (appearance change) or None
    change: np.ndarray            # T weights of the second look (0..1)
    centre: float                 # sprite centre (pixels)
    radius: float                 # farthest outline point from the centre, in sprite pixels
    area: float                   # shape area in sprite pixels (alpha sum)
    scale: np.ndarray             # T: frame pixels per sprite pixel
    angle: np.ndarray             # T: radians
    drift: np.ndarray             # T×2 (x, y) displacement from the start position, without excursions
    position: np.ndarray          # T×2 (x, y) final trajectory (set after placement)
    excursions: List[Tuple[int, int]]
    visible_from: int = 0         # not drawn before this frame (an object that enters the video late)
    texture: Optional[np.ndarray] = None  # S×S×3 float32 first look before the alpha (a distractor may wear it)
    #: non-rigid bending: (amplitude in sprite pixels, wavelength in sprite pixels, radians per frame, phase x,
    #: phase y), or None for a rigid object
    bend: Optional[Tuple[float, float, float, float, float]] = None


class Scene:
    """One synthetic sequence of the default scene model, everything drawn from the sequence's generator at
    construction; a generator's subclass decides which objects it holds and where they go."""

    def __init__(self, rng: np.random.Generator, name: str, num_frames: int, height: int, width: int) -> None:
        """The background canvas, the camera path over it and the lighting drift, drawn from ``rng``; the
        subclass then adds the objects (:meth:`_add_objects`) and places them."""
        self.name = name
        self.num_frames = T = num_frames
        H, W = self.height, self.width = height, width
        unit = self.unit = min(H, W) / 240.0
        t = self.t = np.arange(T, dtype=np.float64)

        # background canvas, larger than the frame, and the camera path over it
        self.margin = (int(math.ceil(0.22 * H)) + 4, int(math.ceil(0.22 * W)) + 4)
        ch, cw = H + 2 * self.margin[0], W + 2 * self.margin[1]
        self.canvas, self.bg_hue = background(rng, ch, cw, unit)
        my, mx = self.margin
        self.cam_x = _sines(rng, t, (0.15 * mx, 0.4 * mx), (60, 220), 2, anchored=False)
        self.cam_y = _sines(rng, t, (0.15 * my, 0.4 * my), (60, 220), 2, anchored=False)
        zoom = rng.uniform(0.03, 0.15)
        self.cam_zoom = 1.0 + zoom * (0.5 + 0.5 * np.sin(2 * math.pi * t / rng.uniform(80, 240) + rng.uniform(0, 6.3)))
        self.cam_rot = np.deg2rad(_sines(rng, t, (0.3, 1.2), (80, 240), 1, anchored=False))
        if rng.random() < 0.5:  # a hand-held camera: smoothed jitter of a few pixels
            for axis in ("cam_x", "cam_y"):
                jitter = cv2.GaussianBlur(rng.normal(0, 1, (1, T)), (0, 0), 1.5).ravel()
                setattr(self, axis, getattr(self, axis) + jitter / max(float(np.abs(jitter).max()), 1e-6)
                        * rng.uniform(1, 4) * unit)

        # lighting drift: brightness offset, contrast, per-channel gains
        trend = rng.uniform(0.05, 0.11) * rng.choice((-1.0, 1.0))
        u = t / max(T - 1, 1) - 0.5
        self.brightness = _sines(rng, t, (0.02, 0.06), (40, 160), 1, anchored=False) + trend * u
        self.contrast = 1.0 + _sines(rng, t, (0.04, 0.15), (50, 200), 1, anchored=False)
        self.gains = np.stack([1.0 + _sines(rng, t, (0.02, 0.08), (60, 240), 1, anchored=False) for _ in range(3)], 1)
        if rng.random() < 0.25:  # exposure flicker: a few frames brighter or darker
            flicker = rng.random(T) < 0.06
            self.brightness = self.brightness + flicker * rng.uniform(-0.12, 0.12, T)
        # light and shade moving over the scene (objects and background alike)
        self.shade_depth = rng.uniform(0.1, 0.35) if rng.random() < 0.7 else 0.0
        pad, self.shade_offset = drifting_offsets(t, rng.uniform(-1.2, 1.2, 2)[::-1] * unit, DRIFT_LIMIT * unit)
        self.shade_field = smooth_noise(rng, H + 2 * pad, W + 2 * pad, [c * unit for c in (140, 70)])
        # objects' shadows on the background: an offset along the light and a strength
        angle = rng.uniform(0, 2 * math.pi)
        self.shadow_offset = rng.uniform(3, 10) * unit * np.array([math.cos(angle), math.sin(angle)])
        self.shadow_depth = rng.uniform(0.2, 0.5) if rng.random() < 0.6 else 0.0
        # the sensor: a slight blur on some sequences, noise on most
        self.blur = rng.uniform(0.4, 1.0) * unit if rng.random() < 0.3 else 0.0
        self.noise = rng.uniform(0.5, 4.0) if rng.random() < 0.7 else 0.0
        self.noise_seed = int(rng.integers(1 << 31))
        self.distractors: List[SceneObject] = []

    def _add_objects(self, rng: np.random.Generator, count: int) -> None:
        """Objects 1..count and their fixed z-order."""
        self.objects: List[SceneObject] = [self._make_object(rng, k + 1, self.num_frames, self.t, self.bg_hue)
                                       for k in range(count)]
        #: everything drawn, back to front
        self.layers: List[SceneObject] = [self.objects[i] for i in rng.permutation(count)]

    def _add_distractors(self, rng: np.random.Generator, count: int) -> None:
        """``count`` unannotated movers (label 0 where they are in front), each at a random depth; half of them
        wear the texture of an annotated object."""
        for _ in range(count):
            twin = self.objects[int(rng.integers(len(self.objects)))] if rng.random() < 0.5 else None
            distractor = self._make_object(rng, 0, self.num_frames, self.t, self.bg_hue, twin)
            self.distractors.append(distractor)
            self.layers.insert(int(rng.integers(len(self.layers) + 1)), distractor)

    @property
    def movers(self) -> List[SceneObject]:
        """Annotated objects and distractors."""
        return self.objects + self.distractors

    @property
    def z_order(self) -> List[int]:
        """Ids of the annotated objects from back to front."""
        return [obj.oid for obj in self.layers if obj.oid]

    # -- construction ---------------------------------------------------------------------------------------

    def _make_object(self, rng: np.random.Generator, oid: int, T: int, t: np.ndarray, bg_hue: float,
                     twin: Optional[SceneObject] = None) -> SceneObject:
        """Object ``oid`` (0: a distractor); ``twin``: an object whose texture it wears."""
        H, W, unit = self.height, self.width, self.unit
        radius = rng.uniform(0.10, 0.19) * min(H, W)   # frame pixels at scale 1
        oversample = 1.35                              # sprite drawn at the largest scale it reaches
        r_sprite = radius * oversample
        size = int(2 * math.ceil(r_sprite) + 6)
        centre = (size - 1) / 2.0
        alpha = shape_alpha(rng, r_sprite, size)
        ys, xs = np.nonzero(alpha)
        far = float(np.hypot(xs - centre, ys - centre).max()) + 1.0
        if twin is not None:
            texture_a = cv2.resize(twin.texture, (size, size), interpolation=cv2.INTER_LINEAR)
        else:
            texture_a = shaded(rng, object_texture(rng, size, unit * oversample, bg_hue), alpha)
        sprite = premultiply(texture_a, alpha)

        # appearance change: a new texture, or the same one recoloured; gradual or at one frame
        change = np.zeros(T, np.float32)
        sprite_b = None
        if T >= 6 and rng.random() < 0.4:
            if rng.random() < 0.5:
                texture_b = object_texture(rng, size, unit * oversample, bg_hue)
            else:
                hsv = cv2.cvtColor(texture_a, cv2.COLOR_RGB2HSV)
                hsv[..., 0] = (hsv[..., 0] + rng.uniform(60, 180)) % 360
                texture_b = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0, 1)
            sprite_b = premultiply(texture_b, alpha)
            start = int(rng.integers(max(1, int(0.25 * T)), max(2, int(0.75 * T))))
            if rng.random() < 0.5:  # sudden
                change[start:] = 1.0
            else:
                duration = rng.uniform(4, 20)
                change[:] = smoothstep((t - start) / duration)

        scale = rng.uniform(0.8, 1.0) / oversample * np.exp(
            _sines(rng, t, (0.05, 0.14), (50, 200), 2, anchored=False))
        angle = rng.uniform(0, 2 * math.pi) + np.deg2rad(rng.uniform(-1.5, 1.5)) * t \
            + np.deg2rad(_sines(rng, t, (3, 15), (40, 160), 1))
        drift = np.stack([_sines(rng, t, (0.05 * W, 0.16 * W), (45, 180), 2),
                          _sines(rng, t, (0.05 * H, 0.16 * H), (45, 180), 2)], 1)
        if rng.random() < 0.3:  # quick moves
            drift += np.stack([_sines(rng, t, (0.02 * W, 0.05 * W), (10, 25), 1),
                               _sines(rng, t, (0.02 * H, 0.05 * H), (10, 25), 1)], 1)
        bend = None
        if rng.random() < 0.35:
            bend = (rng.uniform(0.04, 0.1) * r_sprite, rng.uniform(0.8, 2.0) * r_sprite, rng.uniform(0.08, 0.3),
                    rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi))
        return SceneObject(oid, sprite, sprite_b, change, centre, far, float(alpha.sum()) / 255.0,
                       scale, angle, drift, np.zeros_like(drift), [], texture=texture_a, bend=bend)

    def _place_starts(self, rng: np.random.Generator) -> None:
        H, W = self.height, self.width
        best, best_score = None, -1.0
        for attempt in range(60):
            starts = []
            for obj in self.movers:
                r = min(obj.radius * obj.scale[0], 0.45 * min(H, W))
                starts.append((rng.uniform(r, W - r), rng.uniform(r, H - r)))
            for obj, start in zip(self.movers, starts):
                obj.position = obj.drift + np.asarray(start)
            score = self._frame0_visibility()
            if score > best_score:
                best, best_score = starts, score
            if score >= 0.7:
                break
        for obj, start in zip(self.movers, best):
            obj.position = obj.drift + np.asarray(start)

    def _add_crossings(self, rng: np.random.Generator, t: np.ndarray, keep_in_view: bool = False) -> None:
        """An object steers towards another one, so that they overlap (occlusion) around a time tc.

        Each crossing's offset stays after it; over the many crossings of a long video they add up, so
        ``keep_in_view`` moves each meeting point into the frame (the object's centre at least its radius from
        the borders), which keeps every object within its drift of the frame for any length."""
        T = self.num_frames
        movers = self.movers
        if len(movers) >= 2 and T >= 8:
            n = max(1, int(round(T / 120)))
            previous = 0
            for e in range(n):
                lo, hi = previous + 0.3 * (T - previous) / (n - e), previous + 0.9 * (T - previous) / (n - e)
                tc = int(rng.uniform(lo, hi))
                if rng.random() < 0.3 or tc <= previous + 3:
                    previous = max(previous, tc)
                    continue
                i, j = rng.choice(len(movers), 2, replace=False)
                a, b = movers[i], movers[j]
                gap = (a.radius * a.scale[tc] + b.radius * b.scale[tc]) * rng.uniform(0.1, 0.6)
                direction = rng.uniform(0, 2 * math.pi)
                target = b.position[tc] + gap * np.array([math.cos(direction), math.sin(direction)])
                if keep_in_view:
                    r = min(a.radius * a.scale[tc], 0.45 * min(self.height, self.width))
                    target = np.clip(target, [r, r], [self.width - r, self.height - r])
                offset = target - a.position[tc]
                if 1.5 * float(np.hypot(*offset)) / (tc - previous) > 16.0 * self.unit:
                    continue  # too far to reach at a plausible speed
                ramp = smoothstep((t - previous) / (tc - previous))
                a.position = a.position + ramp[:, None] * offset[None, :]
                previous = tc

    def _add_excursions(self, rng: np.random.Generator, objects: List[SceneObject], t: np.ndarray) -> None:
        """Some of ``objects`` leave the frame across the nearest border and come back (8..70 frames later)."""
        T = self.num_frames
        for obj in objects:
            if T < 10 or rng.random() >= 0.55:
                continue
            n = max(1, int(round(T / 160)))
            slot = (T - 2) / n
            for s in range(n):
                length = int(np.clip(rng.uniform(0.45, 0.8) * slot, 8, 70))
                if length > slot:
                    continue
                t0 = 1 + int(s * slot + rng.uniform(0, slot - length))
                self._add_excursion(rng, obj, t0, length, t)

    def _frame0_visibility(self) -> float:
        """Smallest fraction of an object's own area visible in frame 0 (after occlusion and the border)."""
        _, labels, _ = self.render(0, appearance=False, light=False)
        fractions = []
        for obj in self.objects:
            full = obj.area * float(obj.scale[0]) ** 2
            fractions.append(float((labels == obj.oid).sum()) / max(full, 1.0))
        return min(fractions)

    def _add_excursion(self, rng: np.random.Generator, obj: SceneObject, t0: int, length: int, t: np.ndarray) -> None:
        s = (t - t0) / length
        up, hold = rng.uniform(0.33, 0.43), rng.uniform(0.08, 0.22)
        profile = smoothstep(s / up) * (1 - smoothstep((s - up - hold) / up))
        plateau = (s >= up) & (s <= up + hold)
        if not plateau.any():
            return
        mid = int(np.clip(t0 + length // 2, 0, len(t) - 1))
        if self._push_out(obj, profile, plateau, mid, up * length):
            obj.excursions.append((t0, t0 + length))

    def _push_out(self, obj: SceneObject, profile: np.ndarray, hidden: np.ndarray, mid: int, ramp: float) -> bool:
        """Move ``obj`` across the border nearest to it at frame ``mid`` by ``profile`` times the distance that
        hides it on every ``hidden`` frame; nothing moves (False) when the ``ramp`` frames would need an
        implausible speed."""
        H, W = self.height, self.width
        x, y = obj.position[mid]
        distances = {(-1, 0): x, (1, 0): W - x, (0, -1): y, (0, 1): H - y}
        direction = min(distances, key=distances.get)
        d = np.array(direction, np.float64)
        reach = obj.radius * obj.scale + 3.0            # distance beyond the border that hides the object
        # the object is hidden once its centre is ``reach`` beyond the border along d
        coord = obj.position @ d
        border = {(-1, 0): 0.0, (1, 0): float(W), (0, -1): 0.0, (0, 1): float(H)}[direction] * float(d.sum())
        needed = border + reach - coord
        amplitude = float(needed[hidden].max()) + 2.0
        # the ramp's peak speed (smoothstep: 1.5 × the mean speed of the ramp) stays plausible
        if 1.5 * amplitude / ramp > 16.0 * self.unit:
            return False
        obj.position = obj.position + profile[:, None] * amplitude * d[None, :]
        return True

    # -- rendering ------------------------------------------------------------------------------------------

    def _sprite_at(self, obj: SceneObject, frame: int, appearance: bool) -> np.ndarray:
        w = float(obj.change[frame]) if appearance and obj.sprite_b is not None else 0.0
        if w <= 0.0:
            return obj.sprite
        if w >= 1.0:
            return obj.sprite_b
        return cv2.addWeighted(obj.sprite, 1.0 - w, obj.sprite_b, w, 0.0)

    def _warp(self, obj: SceneObject, frame: int, appearance: bool) -> Optional[Tuple[np.ndarray, int, int]]:
        """``obj``'s sprite placed in the frame at ``frame``: (RGBA crop uint8, x0, y0), None when out of view."""
        H, W = self.height, self.width
        s, th = float(obj.scale[frame]), float(obj.angle[frame])
        b = s * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        p = obj.position[frame]
        reach = (obj.radius + (obj.bend[0] if obj.bend else 0.0)) * s + 2
        x0, x1 = max(0, int(math.floor(p[0] - reach))), min(W, int(math.ceil(p[0] + reach)) + 1)
        y0, y1 = max(0, int(math.floor(p[1] - reach))), min(H, int(math.ceil(p[1] + reach)) + 1)
        if x1 <= x0 or y1 <= y0 or frame < obj.visible_from:
            return None
        shift = p - b @ np.array([obj.centre, obj.centre]) - np.array([x0, y0])
        sprite = self._sprite_at(obj, frame, appearance)
        if obj.bend is None:
            warped = cv2.warpAffine(sprite, np.hstack([b, shift[:, None]]), (x1 - x0, y1 - y0),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            return warped, x0, y0
        # non-rigid: where each pixel comes from in the sprite, then a travelling sinusoidal displacement
        amplitude, wavelength, speed, phase_x, phase_y = obj.bend
        yy, xx = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(np.float32)
        inverse = np.linalg.inv(b).astype(np.float32)
        sx, sy = np.float32(shift[0]), np.float32(shift[1])
        qx = inverse[0, 0] * (xx - sx) + inverse[0, 1] * (yy - sy)
        qy = inverse[1, 0] * (xx - sx) + inverse[1, 1] * (yy - sy)
        k, w = np.float32(2 * math.pi / wavelength), speed * frame
        map_x = qx + np.float32(amplitude) * np.sin(k * qy + np.float32(w + phase_x))
        map_y = qy + np.float32(amplitude) * np.sin(k * qx + np.float32(w + phase_y))
        warped = cv2.remap(sprite, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return warped, x0, y0

    def _noise_bank(self) -> np.ndarray:
        """Sensor noise for the frames: a few noise images, each frame taking one at a random offset."""
        if getattr(self, "_bank", None) is None:
            shape = (4, self.height + _NOISE_PAD, self.width + _NOISE_PAD, 3)
            self._bank = np.random.default_rng(self.noise_seed).standard_normal(shape, np.float32) * np.float32(self.noise)
        return self._bank

    def render(self, frame: int, appearance: bool = True, masks: bool = False, light: bool = True
               ) -> Tuple[np.ndarray, np.ndarray, Dict[int, np.ndarray]]:
        """Frame ``frame``: (RGB image H×W×3 uint8, label map H×W uint8, {id: full mask H×W bool} if asked);
        without ``light``, the image lacks shadows, lighting and sensor effects (the labels are the same)."""
        H, W = self.height, self.width
        my, mx = self.margin
        z, rot = self.cam_zoom[frame], self.cam_rot[frame]
        a = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]]) / z
        src_centre = np.array([W / 2 + mx + self.cam_x[frame], H / 2 + my + self.cam_y[frame]])
        m = np.hstack([a, (src_centre - a @ np.array([W / 2, H / 2]))[:, None]])
        image = cv2.warpAffine(self.canvas, m, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT_101)
        placed = [(obj, self._warp(obj, frame, appearance)) for obj in self.layers]
        if self.shadow_depth > 0 and light:
            shadow = np.zeros((H, W), np.float32)
            dx, dy = (int(round(v)) for v in self.shadow_offset)
            for _, layer in placed:
                if layer is not None:
                    warped, x0, y0 = layer
                    _add_clipped(shadow, warped[..., 3].astype(np.float32) / 255, x0 + dx, y0 + dy)
            shadow = cv2.GaussianBlur(np.minimum(shadow, 1), (0, 0), 2.5 * self.unit)
            image = (image * (1 - self.shadow_depth * shadow)[..., None] + 0.5).astype(np.uint8)
        labels = np.zeros((H, W), np.uint8)
        full: Dict[int, np.ndarray] = {obj.oid: np.zeros((H, W), bool) for obj in self.objects} if masks else {}
        for obj, layer in placed:
            if layer is None:
                continue
            warped, x0, y0 = layer
            y1, x1 = y0 + warped.shape[0], x0 + warped.shape[1]
            alpha = warped[..., 3:].astype(np.float32) * (1.0 / 255)
            roi = image[y0:y1, x0:x1]
            roi[:] = np.clip(roi * (1 - alpha) + warped[..., :3] + 0.5, 0, 255).astype(np.uint8)
            inside = warped[..., 3] > 127
            labels[y0:y1, x0:x1][inside] = obj.oid
            if masks and obj.oid:
                full[obj.oid][y0:y1, x0:x1] = inside
        if not light:
            return image, labels, full
        # lighting: one lookup table per channel, then light and shade moving over the scene
        v = np.arange(256, dtype=np.float64) / 255.0
        lut = ((v[:, None] - 0.5) * self.contrast[frame] + 0.5 + self.brightness[frame]) * self.gains[frame][None, :]
        lut = np.clip(lut * 255 + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)
        image = cv2.LUT(image, lut)
        if self.shade_depth > 0 or self.blur > 0 or self.noise > 0:
            lit = image.astype(np.float32)
            if self.shade_depth > 0:
                oy, ox = self.shade_offset[frame]
                field = self.shade_field[oy:oy + H, ox:ox + W]
                lit *= (1 + self.shade_depth * (2 * field - 1))[..., None]
            if self.blur > 0:
                lit = cv2.GaussianBlur(lit, (0, 0), self.blur)
            if self.noise > 0:
                bank = self._noise_bank()
                index, dy, dx = np.random.default_rng([self.noise_seed, frame]).integers(0, (len(bank), _NOISE_PAD,
                                                                                             _NOISE_PAD))
                lit += bank[index, dy:dy + H, dx:dx + W]
            image = np.clip(lit + 0.5, 0, 255).astype(np.uint8)
        return image, labels, full

    def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        for frame in range(self.num_frames):
            image, labels, _ = self.render(frame)
            yield image, labels


def overlap(frame_shape: Tuple[int, ...], patch_shape: Tuple[int, ...], x0: int, y0: int
            ) -> Optional[Tuple[Tuple[slice, slice], Tuple[slice, slice]]]:
    """Where a patch of ``patch_shape`` placed with its top-left corner at ``(x0, y0)`` overlaps a frame of
    ``frame_shape``: (the frame's rows and columns, the patch's rows and columns), or None."""
    H, W = frame_shape[:2]
    h, w = patch_shape[:2]
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return None
    return (slice(fy0, fy1), slice(fx0, fx1)), (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))


def drifting_offsets(t: np.ndarray, drift: np.ndarray, limit: float) -> Tuple[int, np.ndarray]:
    """A field that drifts ``drift`` (2 pixels per frame, ``(rows, columns)``) under a frame over times ``t``:
    its margin ``pad`` (the field is the frame plus ``pad`` on every side) and the frame's top-left corner in it
    per frame (``T×2`` ints). It moves straight while that stays within ``limit`` pixels of its start, and turns
    back at the margin after, so that the field's size is bounded however long the video."""
    drift = np.asarray(drift, np.float64)
    pad = int(min(np.abs(drift).max() * len(t), limit)) + 2
    travel = np.outer(t, drift)
    if np.abs(drift).max() * len(t) > limit:
        reach = pad - 1
        travel = reflect_into(travel, -reach, 2 * reach)
    return pad, (pad + travel).astype(int)


def reflect_into(values: np.ndarray, low: ArrayLike, span: ArrayLike) -> np.ndarray:
    """``values`` reflected at ``low`` and ``low + span`` as often as needed (a bounce between two walls), so
    that every one lies in that interval; ``low`` and ``span`` may be arrays that broadcast with ``values``."""
    folded = np.mod(values - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def _add_clipped(target: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    """``target[y0:, x0:] += patch`` over the part of ``patch`` that lies inside ``target``."""
    window = overlap(target.shape, patch.shape, x0, y0)
    if window is not None:
        target[window[0]] += patch[window[1]]
