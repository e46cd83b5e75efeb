"""Faces in dim light: each model's full path on the 300-W common test faces as a camera sees them with ever less
light.

A room lit by a screen, an evening street, a phone photo indoors: the camera gathers fewer photons and turns up its
gain, so the picture keeps its brightness but fills with noise (colour speckle, since each colour filter counts its
own photons). Each test image is taken as the scene (its sRGB values decoded to linear light), the light cut to
``light`` x, each pixel's photon count drawn from a Poisson law around ``light`` x ``FULL_WELL`` x its linear value
plus Gaussian read noise (``READ_NOISE`` electrons), then amplified back by ``1 / light`` (the camera's auto gain)
and encoded to 8-bit sRGB; at ``light`` 1 the picture holds only the shot noise of a well lit small sensor. The
noise is drawn per image from a fixed seed, so every model sees the same pictures. Points do not move. Scored by
:func:`bench.sweep.sweep`. Nothing is chosen here. Writes ``bench/results/low_light.csv`` and ``low_light.png``.

    python bench/low_light.py [--lights 1 0.125 0.03125 0.015625 0.0078125] [--models checkpoint:ibug68_pip ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import RESULTS  # noqa: E402
from kpdemo.datasets import LandmarkSet  # noqa: E402

LIGHTS = (1.0, 1 / 8, 1 / 32, 1 / 64, 1 / 128)
#: Photo-electrons a pixel collects from a white scene point in full light: a small phone or webcam sensor's order.
FULL_WELL = 1000.0
#: The sensor's read noise (electrons, standard deviation): what is left when the photon count goes to zero.
READ_NOISE = 3.0
#: The sRGB curve, as the usual 2.2 power: close enough for noise that dwarfs its difference from the exact curve.
GAMMA = 2.2


def dim_picture(image: np.ndarray, light: float, rng: np.random.Generator) -> np.ndarray:
    """An 8-bit RGB ``image`` as the camera sees it with ``light`` x the light, its gain making up the brightness."""
    linear = (image.astype(np.float64) / 255) ** GAMMA
    electrons = rng.poisson(linear * FULL_WELL * light) + rng.normal(0.0, READ_NOISE, linear.shape)
    seen = np.clip(electrons / (FULL_WELL * light), 0.0, 1.0) ** (1 / GAMMA)
    return (seen * 255 + 0.5).astype(np.uint8)


def dimmed(data: LandmarkSet, light: float) -> LandmarkSet:
    """``data`` photographed with ``light`` x the light, each picture's noise drawn from its own fixed seed."""
    images = [dim_picture(data.image(i), light, np.random.default_rng([i, round(1 / light)])) for i in range(len(data))]
    return data.remade(f"{data.name}_light{light:g}", images, list(data.points))


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, LIGHTS, dimmed, "light", "light (x full light; the camera's gain makes up the rest)",
               RESULTS / "low_light.csv", reverse=True, log_x=True)


if __name__ == "__main__":
    main()
