"""Batched, on-device augmentation that moves images and keypoints together.

* :func:`flip_batch`: horizontal mirror of chosen samples, with left/right labels swapped through the schema's
  ``flip_permutation`` (a mirrored left eye *is* the right eye).
* :func:`random_affine` + :func:`warp_batch`: one rotation / scale / shift per sample, applied to the images with
  ``affine_grid``/``grid_sample`` and to the points with the same matrix, so they cannot disagree.

Everything works on whole batches in normalised coordinates ([-1, 1] spans the crop, ``align_corners=False``),
so there is no per-sample Python in the training loop. Images must be float in [0, 1] (outside = black, as in
the dataset's own crops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F


def flip_batch(
    images: torch.Tensor, points: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor, which: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mirror samples where ``which`` (N,) is true: images (N,C,H,W), points (N,K,2) normalised, mask (N,K)."""
    sel = which.view(-1, 1, 1)
    flipped_points = points[:, perm] * points.new_tensor([-1.0, 1.0])
    return (
        torch.where(which.view(-1, 1, 1, 1), images.flip(-1), images),
        torch.where(sel, flipped_points, points),
        torch.where(which.view(-1, 1), mask[:, perm], mask),
    )


def random_affine(
    n: int, degrees: float, scale: float, shift: float, hw: tuple[int, int], device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(N, 2, 3) affines mapping input normalised points to output ones: rotation in +-``degrees``, zoom in
    1 +- ``scale``, shift in +-``shift`` (fraction of the half-size). Built in pixel units so a non-square crop
    rotates without shearing."""
    u = torch.rand(n, 4, device=device, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    zoom = 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    h, w = hw
    aspect = h / w  # normalised x is pixels / (w/2), y is pixels / (h/2)
    linear = torch.stack([torch.stack([cos, -sin * aspect], -1), torch.stack([sin / aspect, cos], -1)], -2)
    return torch.cat([linear, (u[:, 2:] * shift).unsqueeze(-1)], -1)


def warp_batch(
    images: torch.Tensor, points: torch.Tensor, affine: torch.Tensor, out_hw: tuple[int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``affine`` (N, 2, 3; input -> output normalised coordinates) to images and points together.

    ``out_hw`` (default: the input's size) lets a wide cached crop be cut down to the model's crop in the same
    resampling (normalised coordinates do not depend on the pixel size)."""
    linear, offset = affine[:, :, :2], affine[:, :, 2:]
    inverse = torch.linalg.inv(linear)
    theta = torch.cat([inverse, -inverse @ offset], -1)  # grid_sample wants output -> input
    shape = list(images.shape[:2]) + list(out_hw or images.shape[-2:])
    grid = F.affine_grid(theta.to(images.dtype), shape, align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    moved = points @ linear.transpose(1, 2) + offset.transpose(1, 2)
    return warped, moved


def _chance(n: int, p: float, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(N, 1, 1, 1) bool: which samples an effect of probability ``p`` hits."""
    return (torch.rand(n, device=like.device, generator=generator) < p).view(-1, 1, 1, 1)


def occlude_batch(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per sample, paint one rectangle (10-40% of each side, anywhere) a random flat grey:
    the hand, microphone or hair that hides part of a face in the wild. Points stay labelled (PIPNet's recipe)."""
    n, _, h, w = images.shape
    u = torch.rand(n, 5, device=images.device, generator=generator)
    size = (0.1 + 0.3 * u[:, :2]) * images.new_tensor([w, h])
    start = u[:, 2:4] * (images.new_tensor([w, h]) - size)
    xs = torch.arange(w, device=images.device, dtype=images.dtype)
    ys = torch.arange(h, device=images.device, dtype=images.dtype)
    inside_x = (xs >= start[:, :1]) & (xs < start[:, :1] + size[:, :1])  # (N, W)
    inside_y = (ys >= start[:, 1:2]) & (ys < start[:, 1:2] + size[:, 1:2])  # (N, H)
    box = (inside_y[:, :, None] & inside_x[:, None, :])[:, None] & _chance(n, p, images, generator)
    return torch.where(box, u[:, 4].view(-1, 1, 1, 1).to(images.dtype), images)


#: Share of the crop an object covering the face hides (the ellipse's area over the crop's): from a finger to a hand
#: and forearm, a phone, a cup or a scarf over half the face.
COVER_AREA = (0.04, 0.3)
#: The width (px) over which an object's edge fades into the face: a real edge is neither cut out nor a hard line.
COVER_FEATHER = 1.5


def cover_batch(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per sample, an object in front of the face: an ellipse (area ``COVER_AREA`` of the
    crop, aspect 1:2 to 2:1, any tilt, centred in the crop's middle half) filled with another sample's pixels at
    another place (skin, hair, clothes, background: what covers faces in the wild, unlike
    :func:`occlude_batch`'s flat grey). Points stay labelled, so the model learns to place hidden points from the
    visible ones (``bench/occlusion.py``)."""
    n, _, h, w = images.shape
    # six draws a sample though five are used: the shipped 68-point model's runs drew six, and a seeded rerun of
    # its recorded commands must draw the same random stream to give the same weights
    u = torch.rand(n, 6, device=images.device, generator=generator)
    area = (COVER_AREA[0] + (COVER_AREA[1] - COVER_AREA[0]) * u[:, 0]) * h * w
    aspect = torch.exp((2 * u[:, 1] - 1) * math.log(2.0))
    minor = torch.sqrt(area / (math.pi * aspect))  # semi-axes (px): aspect * minor and minor
    major = aspect * minor
    angle = u[:, 2] * math.pi
    cx, cy = (0.25 + 0.5 * u[:, 3]) * w, (0.25 + 0.5 * u[:, 4]) * h
    xs = torch.arange(w, device=images.device, dtype=images.dtype) + 0.5
    ys = torch.arange(h, device=images.device, dtype=images.dtype) + 0.5
    dx, dy = xs.view(1, 1, w) - cx.view(-1, 1, 1), ys.view(1, h, 1) - cy.view(-1, 1, 1)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    along, across = dx * cos + dy * sin, dy * cos - dx * sin
    radius = torch.sqrt((along / major.view(-1, 1, 1)).square() + (across / minor.view(-1, 1, 1)).square())
    # 1 inside, 0 outside, a linear fade COVER_FEATHER px wide (measured along the minor axis) at the edge
    alpha = ((1 - radius) * minor.view(-1, 1, 1) / COVER_FEATHER + 0.5).clamp(0, 1).unsqueeze(1)
    alpha = alpha * _chance(n, p, images, generator)
    shift = torch.randint(-h // 3, h // 3 + 1, (2,), device=images.device, generator=generator).tolist()
    filler = images.roll(1, 0).roll(tuple(shift), (2, 3))  # the previous sample's pixels, moved
    return alpha * filler + (1 - alpha) * images


def blur_batch(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per sample, a 5x5 Gaussian blur (sigma 1.2 px): webcam focus and motion softness."""
    taps = torch.exp(-torch.arange(-2, 3, device=images.device, dtype=images.dtype).square() / (2 * 1.2 ** 2))
    kernel = (taps[:, None] * taps[None]) / taps.sum() ** 2
    c = images.shape[1]
    blurred = F.conv2d(F.pad(images, (2, 2, 2, 2), mode="replicate"), kernel.expand(c, 1, 5, 5), groups=c)
    return torch.where(_chance(len(images), p, images, generator), blurred, images)


#: Defocus blur sigma range (px of the model's crop): from soft to a face whose eyelids and lip edges are gone.
DEFOCUS_SIGMA = (1.0, 3.5)
#: Sensor noise standard deviation range (of the 0-1 pixel scale, per channel): from a dim room to a dark one.
NOISE_SIGMA = (0.02, 0.2)


def defocus_batch(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per sample, a Gaussian blur of a sigma drawn from ``DEFOCUS_SIGMA``: a webcam hunting
    for focus, a moving face, a thumbnail blown up, far softer than :func:`blur_batch`'s fixed 1.2 px."""
    n, c, h, w = images.shape
    u = torch.rand(n, device=images.device, generator=generator)
    sigma = (DEFOCUS_SIGMA[0] + (DEFOCUS_SIGMA[1] - DEFOCUS_SIGMA[0]) * u).to(images.dtype)
    radius = math.ceil(2.5 * DEFOCUS_SIGMA[1])
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    taps = torch.exp(-offsets.square() / (2 * sigma[:, None].square()))
    taps = (taps / taps.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (N*C, taps): one kernel per sample
    flat = F.pad(images.reshape(1, n * c, h, w), (radius,) * 4, mode="replicate")
    flat = F.conv2d(flat, taps.view(n * c, 1, 1, -1), groups=n * c)
    blurred = F.conv2d(flat, taps.view(n * c, 1, -1, 1), groups=n * c).view(n, c, h, w)
    return torch.where(_chance(n, p, images, generator), blurred, images)


#: Motion smear length range (px of the model's crop, whose face's landmark box is ~107 px): from a slow turn of the
#: head to a quick one in a dim room's long exposure (``bench/motion_blur.py`` smears up to 32 px of a ~183 px face:
#: 19 px of the crop's).
MOTION_LENGTH = (3.0, 20.0)


def motion_kernels(length: torch.Tensor, angle: torch.Tensor, side: int, samples: int = 64) -> torch.Tensor:
    """(N, side, side) normalised kernels: for each sample a straight line ``length`` px long through the middle
    pixel at ``angle`` (radians), as ``samples`` points spread evenly along it, each shared bilinearly among its four
    nearest pixels. ``bench/motion_blur.py`` smears its test faces with it too, so training and test blur alike."""
    middle = (side - 1) / 2
    along = torch.linspace(-0.5, 0.5, samples, device=length.device, dtype=length.dtype) * length[:, None]  # (N, S)
    xs = middle + along * torch.cos(angle)[:, None]
    ys = middle + along * torch.sin(angle)[:, None]
    grid = torch.arange(side, device=length.device, dtype=length.dtype)
    # a tent of width one pixel about each point is exactly its bilinear share of the pixels around it
    wx = (1 - (xs[:, :, None] - grid).abs()).clamp(min=0)  # (N, S, side)
    wy = (1 - (ys[:, :, None] - grid).abs()).clamp(min=0)
    kernel = torch.einsum("nmy,nmx->nyx", wy, wx)
    return kernel / kernel.sum((1, 2), keepdim=True)


def motion_batch(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per sample, the face smeared along a line of a length drawn from ``MOTION_LENGTH`` at
    any angle: a head moving during a webcam's long exposure, a hand-held phone; sharp across the motion, unlike
    :func:`defocus_batch`'s even blur. Only the chosen samples are convolved (one kernel each)."""
    n, c, h, w = images.shape
    u = torch.rand(n, 2, device=images.device, generator=generator)
    chosen = _chance(n, p, images, generator).view(-1).nonzero().view(-1)
    if not len(chosen):
        return images
    length = (MOTION_LENGTH[0] + (MOTION_LENGTH[1] - MOTION_LENGTH[0]) * u[chosen, 0]).to(images.dtype)
    side = math.ceil(MOTION_LENGTH[1]) | 1
    kernels = motion_kernels(length, u[chosen, 1].to(images.dtype) * math.pi, side)
    k = len(chosen)
    flat = F.pad(images[chosen].reshape(1, k * c, h, w), (side // 2,) * 4, mode="replicate")
    weight = kernels.repeat_interleave(c, 0).unsqueeze(1)  # (K*C, 1, side, side)
    smeared = F.conv2d(flat, weight, groups=k * c).view(k, c, h, w)
    return images.index_copy(0, chosen, smeared)


def noise_batch(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per sample, Gaussian noise of a standard deviation drawn from ``NOISE_SIGMA``, drawn
    apart for every pixel and channel (colour speckle: each colour filter counts its own photons): a camera turning
    up its gain in dim light."""
    n = len(images)
    u = torch.rand(n, device=images.device, generator=generator)
    sigma = (NOISE_SIGMA[0] + (NOISE_SIGMA[1] - NOISE_SIGMA[0]) * u).to(images.dtype).view(-1, 1, 1, 1)
    noise = torch.randn(images.shape, device=images.device, dtype=images.dtype, generator=generator)
    noisy = (images + sigma * noise).clamp(0, 1)
    return torch.where(_chance(n, p, images, generator), noisy, images)


def frame_cut_batch(images: torch.Tensor, points: torch.Tensor, mask: torch.Tensor, p: float, depth: float,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p`` per sample, the picture's edge cuts the face: each side of the crop, with chance 1/2,
    gets an edge somewhere from just outside the face's landmark box to ``depth`` x the box's size inside it, and
    every pixel beyond goes black, as the app's crop of a face the frame cuts is black beyond the picture (a webcam
    user close to the camera, a selfie). Points stay labelled, so the model learns to place the chin or brows it
    cannot see from the rest of the face. Run it before the warp, so the edge turns with the face."""
    n, _, h, w = images.shape
    big = torch.finfo(points.dtype).max
    visible = mask.unsqueeze(-1)
    lo = torch.where(visible, points, big).amin(1)  # (N, 2) normalised x, y
    hi = torch.where(visible, points, -big).amax(1)
    size = (hi - lo).clamp(min=0)
    u = torch.rand(n, 8, device=images.device, generator=generator)
    cut = (-0.05 + (depth + 0.05) * u[:, :4]) * size.repeat(1, 2)  # how far inside the box each edge sits
    sides = (u[:, 4:] < 0.5) & _chance(n, p, images, generator).view(n, 1)
    xs = (2 * torch.arange(w, device=images.device, dtype=images.dtype) + 1) / w - 1  # pixel centres
    ys = (2 * torch.arange(h, device=images.device, dtype=images.dtype) + 1) / h - 1
    left = sides[:, :1] & (xs < (lo[:, :1] + cut[:, :1]))  # (N, W)
    right = sides[:, 2:3] & (xs > (hi[:, :1] - cut[:, 2:3]))
    top = sides[:, 1:2] & (ys < (lo[:, 1:] + cut[:, 1:2]))  # (N, H)
    bottom = sides[:, 3:4] & (ys > (hi[:, 1:] - cut[:, 3:4]))
    beyond = (left | right)[:, None, :] | (top | bottom)[:, :, None]  # (N, H, W)
    return images.masked_fill(beyond[:, None], 0.0)


def photometric_batch(images: torch.Tensor, gray_p: float, strength: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Brightness and contrast jitter of +-``strength`` per sample, and grayscale with probability ``gray_p``
    (grey photos exist; a colour-only cue would not survive them)."""
    n = len(images)
    if strength:
        u = torch.rand(n, 2, device=images.device, generator=generator) * 2 - 1
        mean = images.mean((1, 2, 3), keepdim=True)
        contrast = (1 + strength * u[:, 0]).view(-1, 1, 1, 1)
        brightness = (strength * u[:, 1] / 2).view(-1, 1, 1, 1)
        images = ((images - mean) * contrast + mean + brightness).clamp(0, 1)
    if gray_p and images.shape[1] == 3:
        luma = (images * images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        images = torch.where(_chance(n, gray_p, images, generator), luma.expand_as(images), images)
    return images


@dataclass(frozen=True)
class Augmentation:
    """A named augmentation policy; ``none`` does nothing.

    Geometry (flip, rotation, zoom, shift) moves the points with the pixels; the frame cut, occlusion, cover, blur,
    defocus, motion, noise and the photometric changes touch pixels only (defocus, motion and noise last: optics,
    exposure and sensor act on whatever is in front of the camera, occluders included). ``context`` > 1 says the
    stored crops are that much wider than the model's crop (real surroundings instead of black corners when a
    rotated or shrunk face is cut out): every batch, augmented or not, is cut to ``1 / context`` of the stored size by
    the same warp (:func:`center_view` for evaluation).
    """

    flip: bool = False
    degrees: float = 0.0
    scale: float = 0.0
    shift: float = 0.0
    occlusion: float = 0.0
    blur: float = 0.0
    gray: float = 0.0
    color: float = 0.0
    frame_cut: float = 0.0
    cut_depth: float = 0.25
    defocus: float = 0.0
    noise: float = 0.0
    cover: float = 0.0
    motion: float = 0.0

    @property
    def active(self) -> bool:
        """Whether any transform is on: read from the fields, so a new one cannot be left out of this test (and
        skipped when used alone). ``cut_depth`` only shapes ``frame_cut``."""
        return any(getattr(self, f.name) for f in fields(self) if f.name != "cut_depth")

    def __call__(
        self, images: torch.Tensor, points: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor,
        generator: torch.Generator | None = None, context: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = len(images)
        if self.flip:
            which = torch.rand(n, device=images.device, generator=generator) < 0.5
            images, points, mask = flip_batch(images, points, mask, perm, which)
        if self.frame_cut:
            images = frame_cut_batch(images, points, mask, self.frame_cut, self.cut_depth, generator)
        if self.degrees or self.scale or self.shift or context != 1.0:
            affine = random_affine(n, self.degrees, self.scale, self.shift, images.shape[-2:], images.device,
                                   generator)
            affine[:, :, :2] *= context
            images, points = warp_batch(images, points, affine, model_hw(images.shape[-2:], context))
        if self.color or self.gray:
            images = photometric_batch(images, self.gray, self.color, generator)
        if self.blur:
            images = blur_batch(images, self.blur, generator)
        if self.occlusion:
            images = occlude_batch(images, self.occlusion, generator)
        if self.cover:
            images = cover_batch(images, self.cover, generator)
        if self.defocus:
            images = defocus_batch(images, self.defocus, generator)
        if self.motion:
            images = motion_batch(images, self.motion, generator)
        if self.noise:
            images = noise_batch(images, self.noise, generator)
        return images, points, mask


def model_hw(stored_hw: tuple[int, int] | torch.Size, context: float) -> tuple[int, int]:
    """The model's crop size for stored crops ``context`` times wider (160 px at 1.25 -> 128 px)."""
    h, w = (round(int(v) / context) for v in stored_hw)
    return h, w


def center_view(images: torch.Tensor, points: torch.Tensor, context: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's crop from the centre of wider stored crops, as the app cuts it (no augmentation).

    When the margin is a whole number of pixels (160 -> 128) this is plain slicing, so evaluation reads the stored
    pixels unresampled; points scale by ``context`` about the centre."""
    if context == 1.0:
        return images, points
    h, w = images.shape[-2:]
    oh, ow = model_hw((h, w), context)
    top, left = (h - oh) // 2, (w - ow) // 2
    if (h - oh) % 2 or (w - ow) % 2 or abs(h / oh - context) > 1e-6:
        raise ValueError(f"context {context} does not cut {h}x{w} crops to whole pixels")
    return images[..., top:top + oh, left:left + ow], points * context


#: Faces in the wild (the PIP family's recipe): +-30 deg, zoom and shift wide enough to cover a face detector's box
#: error, occlusion rectangles, blur, grayscale, brightness/contrast.
WILD = Augmentation(flip=True, degrees=30.0, scale=0.15, shift=0.1, occlusion=0.4, blur=0.2, gray=0.2, color=0.3)

#: ``WILD`` plus faces cut by the frame, strong blur, sensor noise and objects over the face: the 68-point model's
#: last recipe, which the smear trial (``wild_motion``) extends.
WILD_COVER = replace(WILD, frame_cut=0.3, defocus=0.2, noise=0.3, cover=0.5)

#: Policies by name (the ``augmentation`` config value). ``flip_rotate`` is seed 001's; ``jitter`` adds the
#: small zoom/shift the seed suggested as a next step.
AUGMENTATIONS: dict[str, Augmentation] = {
    "none": Augmentation(),
    "flip": Augmentation(flip=True),
    "flip_rotate": Augmentation(flip=True, degrees=15.0),
    "flip_rotate_jitter": Augmentation(flip=True, degrees=15.0, scale=0.08, shift=0.06),
    "wild": WILD,
    # ``wild`` plus faces the picture's edge cuts (p 0.3, up to a quarter of the face): close-ups and selfies.
    "wild_cut": replace(WILD, frame_cut=0.3),
    # ``wild_cut`` plus strong blur (p 0.2) and sensor noise (p 0.3): out-of-focus faces and dim rooms
    # (``bench/blur.py``, ``bench/low_light.py``).
    "wild_cut_blur_noise": replace(WILD, frame_cut=0.3, defocus=0.2, noise=0.3),
    # ``wild_cut_blur_noise`` plus textured objects over up to 30% of the crop (p 0.5): hands, phones, hair, another
    # person (``bench/occlusion.py``).
    "wild_cover": WILD_COVER,
    # ``wild_cover`` plus motion smear (p 0.2): a head moving in front of a webcam (``bench/motion_blur.py``).
    "wild_motion": replace(WILD_COVER, motion=0.2),
}


def get_augmentation(name: str) -> Augmentation:
    try:
        return AUGMENTATIONS[name]
    except KeyError:
        raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}") from None
