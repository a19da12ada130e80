"""Seeded augmentations for training clips, in the order of STCN's datasets; every random draw comes from a
NumPy generator.

Video clips (STCN's ``dataset/vos_dataset.py``): per clip a horizontal flip and a random resized crop of the
full frame (bicubic, masks nearest), then a colour jitter in torchvision's random order and an occasional
grayscale; then per frame, on the crop, a random affine (rotation, shear; bicubic, filled with the ImageNet
mean; masks nearest) and a small colour jitter.

Static images (stage 0, STCN's ``dataset/static_dataset.py``): per clip a zoom (nearest) and a flip, a colour
jitter and grayscale; per frame a random affine (rotation, scale, shear; bicubic for image and mask), a resize
of the shorter side to the crop size (bicubic, masks nearest), a random crop, a colour jitter and, a third of
the time, a thin-plate-spline warp. The mask stays grey-level throughout: it is thresholded at half for the
labels and given soft to the first frame's value encoder, as in STCN.

Optionally (off in STCN's recipe) a clip is blurred and carries sensor noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor
from torchvision.transforms import InterpolationMode

IMAGE_FILL = (124, 116, 104)  # ImageNet mean in 0-255, the fill of affine borders and crop padding


@dataclass
class AugmentConfig:
    """Augmentation strengths (defaults: STCN's main training, ``vos_dataset.py``; stage 0 sets its own in
    ``configs/experiment/stage0.yaml``)."""

    crop_size: Tuple[int, int] = (384, 384)
    crop_scale: Tuple[float, float] = (0.36, 1.0)   # video: random resized crop of the full frame
    crop_ratio: Tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    clip_brightness: float = 0.1                   # per clip, torchvision's ColorJitter in random order
    clip_contrast: float = 0.03
    clip_saturation: float = 0.03
    clip_hue: float = 0.0
    grayscale_p: float = 0.05
    frame_degrees: float = 15.0                    # per frame: random affine
    frame_shear: float = 10.0
    frame_scale: Tuple[float, float] = (1.0, 1.0)
    frame_brightness: float = 0.01                 # per frame: ColorJitter in random order
    frame_contrast: float = 0.01
    frame_saturation: float = 0.01
    static_scale: Tuple[float, float] = (0.8, 1.5)  # static images: the clip's zoom
    tps_p: float = 0.33                            # static images: a thin-plate-spline warp of a frame ...
    tps_scale: float = 0.02                        # ... moving control points by this standard deviation ...
    tps_points: int = 12                           # ... of the image size
    blur_p: float = 0.0                            # optional: probability that a clip is blurred ...
    blur_sigma: Tuple[float, float] = (0.3, 1.5)   # ... with a Gaussian of this sigma (output pixels)
    noise_p: float = 0.0                           # optional: probability that a clip carries sensor noise ...
    noise_sigma: float = 6.0                       # ... of a standard deviation up to this (0-255 scale)


class ColorJitter(NamedTuple):
    """One draw of torchvision's ``ColorJitter``: the order of its four adjustments and their factors
    (``None``: that adjustment is off)."""

    order: Tuple[int, ...]
    factors: Tuple[Optional[float], ...]


def draw_color_jitter(rng: np.random.Generator, brightness: float, contrast: float, saturation: float,
                      hue: float = 0.0) -> ColorJitter:
    """Factors as ``ColorJitter(brightness, contrast, saturation, hue)`` draws them: ``U[max(0, 1 - v), 1 + v]``
    (hue: ``U[-v, v]``), applied in a random permutation of the four."""
    order = tuple(int(i) for i in rng.permutation(4))
    factors = tuple(float(rng.uniform(max(0.0, 1 - v), 1 + v)) if v else None
                    for v in (brightness, contrast, saturation)) + ((float(rng.uniform(-hue, hue)) if hue else None),)
    return ColorJitter(order, factors)


_ADJUST = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)


def apply_color_jitter(image: Image.Image, jitter: ColorJitter) -> Image.Image:
    """An RGB image adjusted as ``jitter`` says, in its order."""
    for index in jitter.order:
        factor = jitter.factors[index]
        if factor is not None:
            image = _ADJUST[index](image, factor)
    return image


class Affine(NamedTuple):
    """One draw of torchvision's ``RandomAffine`` (about the image centre, no translation)."""

    angle: float
    scale: float
    shear: Tuple[float, float]


def draw_affine(rng: np.random.Generator, degrees: float, scale: Sequence[float], shear: float) -> Affine:
    """``RandomAffine(degrees, scale=scale, shear=shear)``: angle ``U[-degrees, degrees]``, scale ``U[scale]``,
    horizontal shear ``U[-shear, shear]`` (a single shear value leaves the vertical shear at 0)."""
    angle = float(rng.uniform(-degrees, degrees))
    factor = float(rng.uniform(*scale)) if scale[0] != scale[1] else float(scale[0])
    return Affine(angle, factor, (float(rng.uniform(-shear, shear)) if shear else 0.0, 0.0))


def apply_affine(image: Image.Image, affine: Affine, interpolation: InterpolationMode, fill) -> Image.Image:
    """``image`` under ``affine`` (PIL's resampling, as STCN's PIL pipeline)."""
    return TF.affine(image, angle=affine.angle, translate=[0, 0], scale=affine.scale, shear=list(affine.shear),
                     interpolation=interpolation, fill=fill)


def crop_box(height: int, width: int, rng: np.random.Generator, scale: Tuple[float, float],
             ratio: Tuple[float, float]) -> Tuple[int, int, int, int]:
    """A random resized-crop box ``(top, left, h, w)`` as torchvision's ``RandomResizedCrop`` draws it: ten tries
    of an area fraction and a log-uniform aspect ratio, then the central crop of the nearest allowed ratio."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _gray(image: Image.Image, gray: bool) -> Image.Image:
    return TF.rgb_to_grayscale(image, num_output_channels=3) if gray else image


def _tensor(image: Image.Image) -> Tensor:
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def augment_clip(frames: List[np.ndarray], masks: List[np.ndarray], rng: np.random.Generator,
                 cfg: AugmentConfig) -> Tuple[Tensor, Tensor]:
    """Video clip: ``frames`` ``H×W×3`` uint8 and label maps ``H×W`` -> ``[T,3,h,w]`` uint8 and ``[T,h,w]`` uint8."""
    height, width = frames[0].shape[:2]
    flip = rng.random() < cfg.flip_p
    box = crop_box(height, width, rng, cfg.crop_scale, cfg.crop_ratio)
    jitter = draw_color_jitter(rng, cfg.clip_brightness, cfg.clip_contrast, cfg.clip_saturation, cfg.clip_hue)
    gray = rng.random() < cfg.grayscale_p
    size = list(cfg.crop_size)
    images, labels = [], []
    for frame, mask in zip(frames, masks):
        image, label = Image.fromarray(np.ascontiguousarray(frame)), Image.fromarray(np.ascontiguousarray(mask))
        if flip:
            image, label = TF.hflip(image), TF.hflip(label)
        image = TF.resized_crop(image, *box, size, interpolation=InterpolationMode.BICUBIC)
        label = TF.resized_crop(label, *box, size, interpolation=InterpolationMode.NEAREST)
        image = _gray(apply_color_jitter(image, jitter), gray)
        affine = draw_affine(rng, cfg.frame_degrees, cfg.frame_scale, cfg.frame_shear)
        image = apply_affine(image, affine, InterpolationMode.BICUBIC, IMAGE_FILL)
        label = apply_affine(label, affine, InterpolationMode.NEAREST, 0)
        image = apply_color_jitter(image, draw_color_jitter(rng, cfg.frame_brightness, cfg.frame_contrast,
                                                            cfg.frame_saturation))
        images.append(_tensor(image))
        labels.append(torch.from_numpy(np.array(label, dtype=np.uint8)))
    optional = _optional_draws(rng, cfg)
    return torch.stack([_degrade(image, *optional, rng) for image in images]), torch.stack(labels)


class StaticClip(NamedTuple):
    """A clip made from one image: ``frames [T,3,h,w]`` uint8 and grey-level ``masks [T,h,w]`` uint8 (0-255)."""

    frames: Tensor
    masks: Tensor


def static_clip(image: np.ndarray, mask: np.ndarray, num_frames: int, rng: np.random.Generator,
                cfg: AugmentConfig) -> StaticClip:
    """A clip from one image ``H×W×3`` uint8 and its grey-level mask ``H×W`` uint8, as STCN's stage 0 makes it."""
    zoom = draw_affine(rng, 0.0, cfg.static_scale, 0.0)
    flip = rng.random() < cfg.flip_p
    jitter = draw_color_jitter(rng, cfg.clip_brightness, cfg.clip_contrast, cfg.clip_saturation, cfg.clip_hue)
    gray = rng.random() < cfg.grayscale_p
    shared = apply_affine(Image.fromarray(np.ascontiguousarray(image)), zoom, InterpolationMode.NEAREST, IMAGE_FILL)
    shared_mask = apply_affine(Image.fromarray(np.ascontiguousarray(mask)), zoom, InterpolationMode.NEAREST, 0)
    if flip:
        shared, shared_mask = TF.hflip(shared), TF.hflip(shared_mask)
    shared = _gray(apply_color_jitter(shared, jitter), gray)
    side = max(cfg.crop_size)
    images, masks = [], []
    for _ in range(num_frames):
        affine = draw_affine(rng, cfg.frame_degrees, cfg.frame_scale, cfg.frame_shear)
        frame = TF.resize(apply_affine(shared, affine, InterpolationMode.BICUBIC, IMAGE_FILL), side,
                          interpolation=InterpolationMode.BICUBIC)
        frame_mask = TF.resize(apply_affine(shared_mask, affine, InterpolationMode.BICUBIC, 0), side,
                               interpolation=InterpolationMode.NEAREST)
        frame, frame_mask = _random_crop(frame, frame_mask, cfg.crop_size, rng)
        frame = apply_color_jitter(frame, draw_color_jitter(rng, cfg.frame_brightness, cfg.frame_contrast,
                                                            cfg.frame_saturation))
        pixels, mask_pixels = np.array(frame, dtype=np.uint8), np.array(frame_mask, dtype=np.uint8)
        if rng.random() < cfg.tps_p:
            pixels, mask_pixels = random_tps_warp(pixels, mask_pixels, rng, cfg.tps_scale, cfg.tps_points)
        images.append(torch.from_numpy(pixels).permute(2, 0, 1).contiguous())
        masks.append(torch.from_numpy(mask_pixels))
    optional = _optional_draws(rng, cfg)
    return StaticClip(torch.stack([_degrade(image, *optional, rng) for image in images]), torch.stack(masks))


def _random_crop(image: Image.Image, mask: Image.Image, size: Tuple[int, int],
                 rng: np.random.Generator) -> Tuple[Image.Image, Image.Image]:
    """``RandomCrop(size, pad_if_needed=True)``: pad (image with the mean, mask with 0) to at least ``size``, then
    crop both at one random position."""
    width, height = image.size
    pad_w, pad_h = max(0, size[1] - width), max(0, size[0] - height)
    if pad_w or pad_h:
        image = TF.pad(image, [pad_w, pad_h], fill=IMAGE_FILL)
        mask = TF.pad(mask, [pad_w, pad_h], fill=0)
        width, height = image.size
    top, left = int(rng.integers(0, height - size[0] + 1)), int(rng.integers(0, width - size[1] + 1))
    return TF.crop(image, top, left, *size), TF.crop(mask, top, left, *size)


def tps_displacement(source: np.ndarray, target: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The thin-plate spline through ``target -> source - target`` (control points ``[N,2]`` in ``[0,1]``, rows
    ``(x, y)``), evaluated at ``points [M,2]``: ``[M,2]`` displacements. Kernel ``r² log r``, no smoothing."""
    n = len(target)

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        r = np.sqrt(np.square(a[:, None, :] - b[None, :, :]).sum(-1))
        return r ** 2 * np.log(r + 1e-6)

    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel(target, target)
    system[:n, n] = 1.0
    system[:n, n + 1:] = target
    system[n, :n] = 1.0
    system[n + 1:, :n] = target.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = source - target
    weights = np.linalg.solve(system, rhs)
    affine = np.concatenate([np.ones((len(points), 1)), points], 1)
    return kernel(points, target) @ weights[:n] + affine @ weights[n:]


def random_tps_warp(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, scale: float,
                    num_points: int) -> Tuple[np.ndarray, np.ndarray]:
    """STCN's ``random_tps_warp`` of an image ``H×W×3`` and its mask ``H×W``: ``num_points`` control points at
    distinct random rows and columns (paired as STCN pairs them: the row fraction as x, the column fraction as
    y) moved by ``N(0, scale)``; the image is resampled bilinearly, the mask by nearest neighbour, through the
    spline from the moved points back (borders 0)."""
    h, w = mask.shape
    rows = rng.choice(h, size=num_points, replace=False) / h
    cols = rng.choice(w, size=num_points, replace=False) / w
    source = np.stack([rows, cols], 1)
    target = source + rng.normal(scale=scale, size=source.shape)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, w), np.linspace(0, 1, h)), -1).reshape(-1, 2)
    moved = grid + tps_displacement(source, target, grid)
    map_x = (moved[:, 0] * w).astype(np.float32).reshape(h, w)
    map_y = (moved[:, 1] * h).astype(np.float32).reshape(h, w)
    return (cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR), cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST))


def _optional_draws(rng: np.random.Generator, cfg: AugmentConfig) -> Tuple[float, float]:
    """A clip's blur sigma and noise level (0: none). Drawn last and only when enabled, so that STCN's recipe
    draws exactly its own clips."""
    blur = float(rng.uniform(*cfg.blur_sigma)) if cfg.blur_p and rng.random() < cfg.blur_p else 0.0
    noise = float(rng.uniform(0, cfg.noise_sigma)) if cfg.noise_p and rng.random() < cfg.noise_p else 0.0
    return blur, noise


def _degrade(image: Tensor, blur: float, noise: float, rng: np.random.Generator) -> Tensor:
    """A uint8 image ``[3,H,W]`` blurred by a Gaussian of sigma ``blur`` and with Gaussian noise of standard
    deviation ``noise`` (fresh for every frame) added; unchanged where both are 0."""
    if blur:
        image = TF.gaussian_blur(image, [2 * int(math.ceil(3 * blur)) + 1] * 2, [blur, blur])
    if noise:
        grain = torch.from_numpy(rng.normal(0.0, noise, image.shape).astype(np.float32))
        image = (image.float() + grain).round().clamp(0, 255).to(torch.uint8)
    return image
