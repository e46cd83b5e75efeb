"""Turning whatever the user hands over into an RGB uint8 array, or a message a person can act on.

Why here: every tab takes uploads, and an upload may be a text file, a truncated JPEG or a 50-megapixel photo;
all of them must end in a readable message (or a downscaled image), never a stack trace.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Longest side kept; larger images are downscaled (detection does not need more, and it bounds latency).
MAX_SIDE = 1600
#: Images with more pixels than this are refused before they are decoded (decompression bombs): PIL's own limit,
#: which it raises as a warning when the header is read, turned into an error here.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS


class ImageInputError(ValueError):
    """The input cannot be used as an image; the message is meant for the user."""


def limit_size(image: Image.Image, max_side: int | None = MAX_SIDE) -> Image.Image:
    """Downscale so the longer side is at most ``max_side`` (aspect kept; None: no limit); smaller images pass
    unchanged."""
    if max_side is not None and max(image.size) > max_side:
        image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster for huge photos
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def read_image(path: str | Path | BinaryIO, max_side: int | None = MAX_SIDE, min_side: int = 1) -> np.ndarray:
    """Read an image file (a path, or an open binary file such as ``io.BytesIO``) as RGB uint8, EXIF rotation
    applied, downscaled to ``max_side`` (None: full size).

    Refused (:class:`ImageInputError`): a file whose every pixel is transparent, since a viewer shows nothing of
    it (its colours may still hold a picture, which an editor keeps under a cleared alpha); and, as read, one side
    under ``min_side`` pixels, for a caller that knows no face fits in less (the app's image tabs: an 8x8 image
    "found" a face, in noise).
    """
    if max_side is not None and (not isinstance(max_side, int) or max_side < 1):
        raise ValueError(f"max_side must be a positive number of pixels or None, got {max_side!r}")
    if isinstance(path, bytes | bytearray):
        raise ImageInputError("read_image takes a file name or an open file: wrap bytes in io.BytesIO(...)")
    if not isinstance(path, str | os.PathLike) and not hasattr(path, "read"):
        raise ImageInputError(f"read_image takes a file name or an open file, got {type(path).__name__}")
    if isinstance(path, str | os.PathLike):
        path = Path(path)
    name = path.name if isinstance(path, Path) else Path(str(getattr(path, "name", "the file"))).name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img)
                if _wide_mode(img):  # to 8 bits first: resampling a float or 32-bit image overshoots its range,
                    img = Image.fromarray(pil_rgb(img))  # which is then misread
                img = limit_size(img, max_side)
                if _fully_transparent(img):
                    raise ImageInputError(f"{name} is fully transparent: it shows nothing, so there is no face to "
                                          "find in it")
                if min(img.size) < min_side:
                    raise ImageInputError(f"{name} is only {img.width}x{img.height} pixels: too small to hold a face "
                                          f"(at least {min_side} px a side)")
                return pil_rgb(img)
    except FileNotFoundError:
        raise ImageInputError(f"{name}: file not found") from None
    except UnidentifiedImageError:
        raise ImageInputError(f"{name} is not an image (expected a PNG, JPEG, WebP, BMP or similar file)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(f"{name} is too large to open safely (over {MAX_PIXELS / 1e6:.0f} megapixels)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageInputError):
            raise
        raise ImageInputError(f"{name} is not an image that can be read: the file is corrupt or truncated") from None


def _fully_transparent(image: Image.Image) -> bool:
    """Whether no pixel of ``image`` shows: it has transparency (an alpha channel, a palette's or a colour key's) and
    every pixel's alpha is 0."""
    return image.has_transparency_data and image.convert("RGBA").getchannel("A").getextrema() == (0, 0)


def image_array(image: object) -> np.ndarray:
    """Any image a Python user may hold as a contiguous RGB uint8 (H, W, 3) array on the same pixel grid (points
    found in it are points in theirs), or an :class:`ImageInputError` that says what is wrong with it.

    Taken: a PIL image; an (H, W) or (H, W, 1) gray, (H, W, 2) gray + alpha, (H, W, 3) RGB or (H, W, 4) RGBA array
    (alpha dropped), or anything ``np.asarray`` turns into one (a CPU tensor); of uint8, bool, uint16 (16-bit PNGs,
    scaled to 8 bits), other integers within 0-255, or floats within 0-1 (matplotlib's and scikit-image's
    convention) or, when any value exceeds 1, within 0-255 (OpenCV's after ``astype(float)``). Refused with a
    reason: no pixels, channels first (a torch tensor as models take it), a normalised tensor's negative values,
    NaNs. Why refuse rather than guess: a wrong guess silently finds no face, or worse points.
    """
    if image is None:
        raise ImageInputError("no image was given")
    if isinstance(image, str | Path):
        raise ImageInputError(f"{str(image)!r} is a file name, not pixels: read it with read_image(path) first")
    if isinstance(image, Image.Image):
        return pil_rgb(image)
    try:
        array = np.asarray(image)
    except Exception:  # an object numpy cannot read at all
        hint = " (call .detach().cpu() on it first)" if hasattr(image, "detach") else ""
        raise ImageInputError(f"the input is not an image: got {type(image).__name__}{hint}") from None
    if array.dtype.kind not in "biuf":
        raise ImageInputError(f"the input is not an image: got an array of {array.dtype}, expected pixel numbers")
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 2, 3, 4):
        raise ImageInputError(f"the image has its channels first (shape {array.shape}); pass H x W x C, e.g. "
                              "tensor.permute(1, 2, 0)")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageInputError(f"the input is not an image: shape {array.shape}, expected H x W (gray), "
                              "H x W x 3 (RGB) or H x W x 4 (RGBA)")
    if min(array.shape[:2]) < 1:
        raise ImageInputError(f"the image has no pixels (shape {array.shape})")
    return np.ascontiguousarray(_as_rgb_channels(_as_uint8(array)))


def pil_rgb(image: Image.Image) -> np.ndarray:
    """A PIL image's pixels as RGB uint8. Its 16-bit and 32-bit gray modes (``I;16``: 16-bit PNGs and TIFFs; ``I``;
    ``F``: float TIFFs) go through :func:`_as_uint8`'s scaling: ``convert("RGB")`` would clip them at 255, turning a
    16-bit face nearly white and a 0-1 float one black, where no face is found."""
    if _wide_mode(image):
        array = np.asarray(image)
        if array.dtype.kind in "iu" and array.dtype != np.uint16 and 255 < array.max() <= 65535 and array.min() >= 0:
            array = array.astype(np.uint16)  # mode I holding a 16-bit image's values
        return np.ascontiguousarray(_as_rgb_channels(_as_uint8(array)))
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _wide_mode(image: Image.Image) -> bool:
    """Whether a PIL image holds more than 8 bits a pixel: the gray modes ``I;16*``, ``I`` and ``F``."""
    return image.mode in ("I", "F") or image.mode.startswith("I;16")


def _as_uint8(array: np.ndarray) -> np.ndarray:
    """Pixel values as uint8 by the conventions :func:`image_array` names."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return (array.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ImageInputError("the image holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if array.dtype.kind == "f":
        if low < 0 or high > 255:
            raise ImageInputError(f"float pixel values must lie within 0-1 or 0-255; these span {low:.3g} to "
                                  f"{high:.3g} (a normalised tensor? undo the normalisation first)")
        return np.rint(array * 255 if high <= 1 else array).astype(np.uint8)
    if low < 0 or high > 255:
        raise ImageInputError(f"integer pixel values must lie within 0-255 (or be uint16); these span {low:g} to "
                              f"{high:g}")
    return array.astype(np.uint8)


def _as_rgb_channels(array: np.ndarray) -> np.ndarray:
    """(H, W, 3) from gray, gray + alpha, RGB or RGBA (alpha dropped: a face is found in its colours)."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] in (1, 2):
        return np.repeat(array[:, :, :1], 3, axis=2)
    return array[:, :, :3]


def as_rgb(array: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """A frame from a component as :func:`image_array` takes it, downscaled to ``max_side``."""
    img = image_array(array)
    if max(img.shape[:2]) > max_side:
        img = np.asarray(limit_size(Image.fromarray(img), max_side))
    return img


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
