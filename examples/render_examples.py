"""Render the app's example images from the public-domain astronaut photo (tests/fixtures/astronaut.png).

    python examples/render_examples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kpdemo.detection.images import compose_frame, read_image  # noqa: E402


def main() -> None:
    photo = read_image(HERE.parent / "tests" / "fixtures" / "astronaut.png")
    Image.fromarray(photo).save(HERE / "astronaut.png")
    tilted = compose_frame(photo, (512, 512), scale=1.1, centre=(0.5, 0.55), angle_deg=25)
    Image.fromarray(tilted).save(HERE / "astronaut_tilted.jpg", quality=92)
    lying = compose_frame(photo, (480, 640), scale=0.9, centre=(0.5, 0.5), angle_deg=-100)  # her head to the right
    Image.fromarray(lying).save(HERE / "astronaut_lying.jpg", quality=92)
    left = compose_frame(photo, (480, 480), scale=0.9, centre=(0.5, 0.5), angle_deg=-8)
    right = compose_frame(photo[:, ::-1], (480, 480), scale=0.7, centre=(0.5, 0.6))
    Image.fromarray(np.hstack([left, right])).save(HERE / "astronaut_pair.jpg", quality=92)


if __name__ == "__main__":
    main()
