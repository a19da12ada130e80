"""Seeded augmentations for training clips (STCN's recipe): every random draw comes from a NumPy generator.

Per frame: a small colour jitter and a random affine (rotation, shear) applied to image and mask alike.
Per clip: colour jitter, occasional grayscale, horizontal flip and a random resized crop shared by all
frames; optionally (off in STCN's recipe) a hue shift, a Gaussian blur and sensor noise. Static images become
clips by independent deformations of one image (stage 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor
from torchvision.transforms import InterpolationMode

IMAGE_FILL = [124, 116, 104]  # ImageNet mean in 0-255, the fill of affine borders


@dataclass
class AugmentConfig:
    """Augmentation strengths (defaults: STCN's main training)."""

    crop_size: Tuple[int, int] = (384, 384)
    crop_scale: Tuple[float, float] = (0.36, 1.0)
    crop_ratio: Tuple[float, float] = (3 / 4, 4 / 3)
    frame_degrees: float = 15.0
    frame_shear: float = 10.0
    frame_scale: Tuple[float, float] = (1.0, 1.0)
    frame_jitter: float = 0.01
    clip_brightness: float = 0.1
    clip_contrast: float = 0.03
    clip_saturation: float = 0.03
    grayscale_p: float = 0.05
    flip_p: float = 0.5
    clip_hue: float = 0.0                          # hue shift of a clip, up to this fraction of the colour circle
    blur_p: float = 0.0                            # probability that a clip is blurred ...
    blur_sigma: Tuple[float, float] = (0.3, 1.5)   # ... with a Gaussian of this sigma (output pixels)
    noise_p: float = 0.0                           # probability that a clip carries sensor noise ...
    noise_sigma: float = 6.0                       # ... of a standard deviation up to this (0-255 scale)


def _jitter(image: Tensor, rng: np.random.Generator, brightness: float, contrast: float, saturation: float) -> Tensor:
    if brightness:
        image = TF.adjust_brightness(image, float(rng.uniform(1 - brightness, 1 + brightness)))
    if contrast:
        image = TF.adjust_contrast(image, float(rng.uniform(1 - contrast, 1 + contrast)))
    if saturation:
        image = TF.adjust_saturation(image, float(rng.uniform(1 - saturation, 1 + saturation)))
    return image


def random_affine(image: Tensor, mask: Tensor, rng: np.random.Generator, degrees: float, shear: float,
                  scale: Tuple[float, float]) -> Tuple[Tensor, Tensor]:
    """The same random rotation/shear/scale for an image ``[3,H,W]`` (bilinear) and its mask ``[1,H,W]`` (nearest)."""
    angle = float(rng.uniform(-degrees, degrees))
    shears = [float(rng.uniform(-shear, shear)), 0.0]
    factor = float(rng.uniform(*scale))
    image = TF.affine(image, angle=angle, translate=[0, 0], scale=factor, shear=shears,
                      interpolation=InterpolationMode.BILINEAR, fill=IMAGE_FILL)
    mask = TF.affine(mask, angle=angle, translate=[0, 0], scale=factor, shear=shears,
                     interpolation=InterpolationMode.NEAREST, fill=0)
    return image, mask


def crop_box(height: int, width: int, rng: np.random.Generator, scale: Tuple[float, float],
             ratio: Tuple[float, float]) -> Tuple[int, int, int, int]:
    """A random resized-crop box ``(top, left, h, w)`` as torchvision draws it (area and log-ratio)."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        w = int(round(np.sqrt(target * aspect)))
        h = int(round(np.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def _crop(image: Tensor, mask: Tensor, box: Tuple[int, int, int, int], size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
    top, left, h, w = box
    image = TF.resized_crop(image, top, left, h, w, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True)
    mask = TF.resized_crop(mask, top, left, h, w, list(size), interpolation=InterpolationMode.NEAREST)
    return image, mask


def augment_clip(frames: List[np.ndarray], masks: List[np.ndarray], rng: np.random.Generator,
                 cfg: AugmentConfig) -> Tuple[Tensor, Tensor]:
    """Video clip: ``frames`` ``H×W×3`` uint8 and label maps ``H×W`` -> ``[T,3,h,w]`` uint8 and ``[T,h,w]`` uint8."""
    images = [torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1) for f in frames]
    labels = [torch.from_numpy(np.ascontiguousarray(m))[None] for m in masks]
    out_images, out_labels = [], []
    for image, label in zip(images, labels):
        image = _jitter(image, rng, cfg.frame_jitter, cfg.frame_jitter, cfg.frame_jitter)
        image, label = random_affine(image, label, rng, cfg.frame_degrees, cfg.frame_shear, cfg.frame_scale)
        out_images.append(image)
        out_labels.append(label)
    brightness, contrast, saturation = (float(rng.uniform(1 - v, 1 + v)) for v in
                                        (cfg.clip_brightness, cfg.clip_contrast, cfg.clip_saturation))
    gray = rng.random() < cfg.grayscale_p
    flip = rng.random() < cfg.flip_p
    box = crop_box(out_images[0].shape[1], out_images[0].shape[2], rng, cfg.crop_scale, cfg.crop_ratio)
    optional = _optional_draws(rng, cfg)
    result_images, result_labels = [], []
    for image, label in zip(out_images, out_labels):
        image = TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(image, brightness), contrast), saturation)
        if gray:
            image = TF.rgb_to_grayscale(image, num_output_channels=3)
        if flip:
            image, label = TF.horizontal_flip(image), TF.horizontal_flip(label)
        image, label = _crop(image, label, box, cfg.crop_size)
        result_images.append(_degrade(image, *optional, rng))
        result_labels.append(label[0])
    return torch.stack(result_images), torch.stack(result_labels)


def rotate_hue(image: Tensor, shift: float) -> Tensor:
    """A uint8 image ``[3,H,W]`` with its hues turned by ``shift`` of the colour circle: a rotation of the
    chroma plane of YIQ, which keeps luma (a linear stand-in for HSV's hue shift, several times faster)."""
    angle = 2 * math.pi * shift
    c, s = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    matrix = _YIQ_TO_RGB @ rotation @ _RGB_TO_YIQ
    turned = torch.einsum("ij,jhw->ihw", matrix, image.float())
    return turned.round().clamp(0, 255).to(torch.uint8)


_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _optional_draws(rng: np.random.Generator, cfg: AugmentConfig) -> Tuple[float, float, float]:
    """A clip's hue shift, blur sigma and noise level (0: none). Drawn last and only when enabled, so that
    STCN's recipe draws exactly its own clips."""
    hue = float(rng.uniform(-cfg.clip_hue, cfg.clip_hue)) if cfg.clip_hue else 0.0
    blur = float(rng.uniform(*cfg.blur_sigma)) if cfg.blur_p and rng.random() < cfg.blur_p else 0.0
    noise = float(rng.uniform(0, cfg.noise_sigma)) if cfg.noise_p and rng.random() < cfg.noise_p else 0.0
    return hue, blur, noise


def _degrade(image: Tensor, hue: float, blur: float, noise: float, rng: np.random.Generator) -> Tensor:
    """A uint8 image ``[3,H,W]`` with its hue turned by ``hue``, blurred by a Gaussian of sigma ``blur`` and with
    Gaussian noise of standard deviation ``noise`` (fresh for every frame) added; unchanged where all are 0."""
    if hue:
        image = rotate_hue(image, hue)
    if blur:
        image = TF.gaussian_blur(image, [2 * int(math.ceil(3 * blur)) + 1] * 2, [blur, blur])
    if noise:
        grain = torch.from_numpy(rng.normal(0.0, noise, image.shape).astype(np.float32))
        image = (image.float() + grain).round().clamp(0, 255).to(torch.uint8)
    return image


def deform_static(image: np.ndarray, mask: np.ndarray, num_frames: int, rng: np.random.Generator,
                  cfg: AugmentConfig) -> Tuple[Tensor, Tensor]:
    """A clip from one image: each frame an independent affine deformation and resized crop (stage 0), then the
    optional hue shift, blur and noise of the clip."""
    base_image = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    base_mask = torch.from_numpy(np.ascontiguousarray(mask))[None]
    images, labels = [], []
    for _ in range(num_frames):
        frame = _jitter(base_image, rng, cfg.clip_brightness, cfg.clip_contrast, cfg.clip_saturation)
        frame, label = random_affine(frame, base_mask, rng, cfg.frame_degrees, cfg.frame_shear, cfg.frame_scale)
        box = crop_box(frame.shape[1], frame.shape[2], rng, cfg.crop_scale, cfg.crop_ratio)
        frame, label = _crop(frame, label, box, cfg.crop_size)
        images.append(frame)
        labels.append(label[0])
    optional = _optional_draws(rng, cfg)
    return torch.stack([_degrade(image, *optional, rng) for image in images]), torch.stack(labels)
