"""The shipped frontalization model: load it and apply it to a geometrically aligned 128x128 gray face.

The file holds the shared encoder and the ``frontal`` decoder of a :class:`~kpdemo.models.autoencoder.
SharedEncoderNet` (the reconstruction decoder and the PatchGAN critic are training-only). Its format tag differs
from landmark checkpoints on purpose: :func:`kpdemo.checkpoints.load_checkpoint` refuses it, so the app's
landmark-model scan never lists an image-to-image model as a keypoint predictor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch

from kpdemo.config import CHECKPOINTS_DIR
from kpdemo.files import write_by_rename
from kpdemo.models.autoencoder import SIDE, PriorPlusDecoder, SharedEncoderNet
from kpdemo.training.tensors import pixels_to_input

FORMAT = "kpdemo-frontalizer/1"
DOMAIN = "frontal"
DEFAULT_CHECKPOINT = CHECKPOINTS_DIR / "frontalize_light.pt"
PIXEL_MEAN = PIXEL_STD = 0.5  # input = (v / 255 - 0.5) / 0.5 in [-1, 1]; the tanh output is on the same scale

class FrontalizerError(ValueError):
    """The frontalization model or its input cannot be used (missing file, wrong format, bad image)."""


@dataclass
class FrontalizerMeta:
    family: str
    dataset: str = ""
    run: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # held-out scores of the run (``record["test"]``)
    loss: str = "l1"  # the training loss (trainers.engine.image_losses)


def save_frontalizer(path: Path, net: SharedEncoderNet, meta: FrontalizerMeta, half: bool = True) -> Path:
    """Write the encoder and the frontal decoder (fp16 when ``half``) with their metadata."""
    keep = {k: v.detach().cpu() for k, v in net.state_dict().items()
            if k.startswith("encoder.") or k.startswith(f"decoders.{DOMAIN}.")}
    if half:
        keep = {k: v.half() if v.is_floating_point() else v for k, v in keep.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_by_rename(path, lambda out: torch.save({"format": FORMAT, "meta": asdict(meta), "state_dict": keep}, out))
    return path


def load_frontalizer(path: Path = DEFAULT_CHECKPOINT) -> tuple[SharedEncoderNet, FrontalizerMeta]:
    """The model in eval mode (float32) and its metadata; :class:`FrontalizerError` for a missing/foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FrontalizerError(f"frontalization model not found: {path} (train it: python -m trainers frontalize)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a non-checkpoint file
        raise FrontalizerError(f"{path.name} is not a readable PyTorch file ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FrontalizerError(f"{path.name} is not a frontalization model (expected format {FORMAT})")
    meta = FrontalizerMeta(**payload["meta"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    net = SharedEncoderNet.for_state(meta.family, state)
    net.load_state_dict(state)
    return net.eval(), meta


@lru_cache(maxsize=2)
def _cached(path: str, mtime: float) -> tuple[SharedEncoderNet, FrontalizerMeta]:
    return load_frontalizer(Path(path))


def cached_frontalizer(path: Path = DEFAULT_CHECKPOINT) -> tuple[SharedEncoderNet, FrontalizerMeta]:
    """:func:`load_frontalizer`, read once per file version (the app's note and every request share it)."""
    path = Path(path)
    return _cached(str(path), path.stat().st_mtime if path.is_file() else 0.0)  # a missing file: load's error


def to_gray_128(image: np.ndarray) -> np.ndarray:
    """An aligned face (gray or RGB uint8, any square size) as the model's 128x128 gray input."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise FrontalizerError(f"expected a uint8 gray or RGB image, got {image.dtype} {image.shape}")
    if image.ndim == 3:
        image = image[..., 0] if image.shape[2] == 1 else cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
    if image.shape[0] != image.shape[1]:
        raise FrontalizerError(f"expected a square aligned face, got {image.shape[1]}x{image.shape[0]}")
    if image.shape[0] != SIDE:
        interp = cv2.INTER_AREA if image.shape[0] > SIDE else cv2.INTER_LINEAR
        image = cv2.resize(image, (SIDE, SIDE), interpolation=interp)
    return image


@torch.no_grad()
def run_frontalizer(net: SharedEncoderNet, images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1, 128, 128) -> float [0, 1] frontal faces, same shape."""
    out = net(pixels_to_input(images, PIXEL_MEAN, PIXEL_STD), DOMAIN)
    return (out * PIXEL_STD + PIXEL_MEAN).clamp(0, 1)


def frontalize(aligned: np.ndarray, path: Path = DEFAULT_CHECKPOINT) -> np.ndarray:
    """The frontal 128x128 uint8 gray face the model predicts for one geometrically aligned face."""
    net, _ = cached_frontalizer(path)
    x = torch.from_numpy(to_gray_128(aligned))[None, None]
    return (run_frontalizer(net, x)[0, 0].numpy() * 255.0 + 0.5).astype(np.uint8)


def model_note(path: Path = DEFAULT_CHECKPOINT) -> str:
    """What the app shows beside the option: what the model is, what it was trained on, how it scores, its limits.

    Built from the file's own metadata so the note cannot drift from the model that ships.
    """
    try:
        net, meta = cached_frontalizer(path)
    except FrontalizerError as exc:
        return f"Learned frontalization is not available: {exc}"
    prior = " that draws each face as a change to the mean frontal face" if isinstance(
        net.decoders[DOMAIN], PriorPlusDecoder) else ""
    m = meta.metrics
    scores = ""
    if {"l1_gray", "ssim", "identity_l1_gray", "identity_ssim", "mean_l1_gray", "mean_ssim"} <= set(m):
        scores = (f" On held-out people it scores L1 {m['l1_gray']:.1f} gray levels and SSIM {m['ssim']:.2f}, against "
                  f"{m['identity_l1_gray']:.1f} / {m['identity_ssim']:.2f} for the aligned input as it is and "
                  f"{m['mean_l1_gray']:.1f} / {m['mean_ssim']:.2f} for the mean frontal face.")
    return (
        f"Learned frontalization (seed 004, experimental): a small conv encoder/decoder ({meta.family.title()})"
        f"{prior}, trained with the {meta.loss} loss to map each YouTube-Faces frame to the most frontal frame of the "
        f"same person (347 celebrities, 128x128 grayscale, faces first aligned geometrically).{scores} It produces a "
        "blurry, averaged gray face: identity detail is lost through its 64-number bottleneck, and faces unlike that "
        "data (profiles, children, occlusions) come out as a generic face. Use it to see what the method learns, not "
        "as a faithful frontal view; geometric alignment remains the reliable result."
    )
