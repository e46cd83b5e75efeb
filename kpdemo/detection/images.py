"""Turning whatever the user hands over into an RGB uint8 array, or a message a person can act on.

Why here: every tab takes uploads, and an upload may be a text file, a truncated JPEG or a 50-megapixel photo;
all of them must end in a readable message (or a downscaled image), never a stack trace.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Longest side kept; larger images are downscaled (detection does not need more, and it bounds latency).
MAX_SIDE = 1600
#: Refuse images with more pixels than this before decoding them fully (decompression bombs).
MAX_PIXELS = 200_000_000


class ImageInputError(ValueError):
    """The input cannot be used as an image; the message is meant for the user."""


def limit_size(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """Downscale so the longer side is at most ``max_side`` (aspect kept); smaller images pass unchanged."""
    if max(image.size) > max_side:
        image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster for huge photos
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def read_image(path: str | Path, max_side: int = MAX_SIDE) -> np.ndarray:
    """Read an image file as RGB uint8 (EXIF rotation applied, downscaled to ``max_side``)."""
    path = Path(path)
    name = path.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ImageInputError(f"{name} is too large ({img.width}x{img.height} pixels)")
                img = limit_size(ImageOps.exif_transpose(img), max_side)
                return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise ImageInputError(f"{name}: file not found") from None
    except UnidentifiedImageError:
        raise ImageInputError(f"{name} is not an image (expected a PNG, JPEG, WebP, BMP or similar file)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(f"{name} is too large to open safely") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageInputError):
            raise
        raise ImageInputError(f"{name} is not an image that can be read: the file is corrupt or truncated") from None


def as_rgb(array: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """A frame from a component (gray, RGB or RGBA, any numeric type) as RGB uint8, downscaled to ``max_side``."""
    if array is None or not isinstance(array, np.ndarray) or array.ndim not in (2, 3) or min(array.shape[:2]) < 1:
        raise ImageInputError("the input is not an image (expected an H x W or H x W x 3 array)")
    img = array if array.dtype == np.uint8 else np.clip(array, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if max(img.shape[:2]) > max_side:
        img = np.asarray(limit_size(Image.fromarray(img), max_side))
    return np.ascontiguousarray(img)


def compose_frame(
    image: np.ndarray, size_hw: tuple[int, int], scale: float = 1.0, centre: tuple[float, float] = (0.5, 0.5),
    angle_deg: float = 0.0, background: int = 40,
) -> np.ndarray:
    """``image`` scaled, rotated and placed with its centre at ``centre`` (fractions of the canvas) on a plain canvas.

    Why: example images and benchmark frames are rendered from the one public-domain photo the repo may ship, with
    faces at other sizes, positions and angles.
    """
    h, w = size_hw
    matrix = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), angle_deg, scale)
    matrix[:, 2] += np.array([centre[0] * w, centre[1] * h]) - np.array([image.shape[1] / 2, image.shape[0] / 2])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderValue=(background,) * 3)
