"""Batched augmentation, masked loss and the model registry on synthetic tensors (no dataset needed)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from kpdemo.models import build_model
from kpdemo.schemas import get_schema
from kpdemo.training.augment import (
    AUGMENTATIONS,
    COVER_AREA,
    DEFOCUS_SIGMA,
    MOTION_LENGTH,
    NOISE_SIGMA,
    cover_batch,
    defocus_batch,
    flip_batch,
    frame_cut_batch,
    motion_batch,
    noise_batch,
    random_affine,
    warp_batch,
)
from kpdemo.training.losses import masked_loss
from kpdemo.training.tensors import points_from_network, points_to_network

PERM = torch.from_numpy(get_schema("kaggle15").flip_permutation)


def _batch(n: int = 6, hw: tuple[int, int] = (96, 96)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, *hw, generator=g), torch.rand(n, 15, 2, generator=g) * 2 - 1,
            torch.rand(n, 15, generator=g) > 0.3)


def test_flip_twice_is_identity() -> None:
    images, points, mask = _batch()
    which = torch.tensor([True, False, True, True, False, True])
    again = flip_batch(*flip_batch(images, points, mask, PERM, which), PERM, which)
    for got, want in zip(again, (images, points, mask), strict=True):
        assert torch.equal(got, want)


def test_flip_swaps_left_and_right_labels() -> None:
    images, points, mask = _batch(1)
    _, flipped, _ = flip_batch(images, points, mask, PERM, torch.tensor([True]))
    # kaggle15 point 0 is the left eye centre, 1 the right: the mirrored left eye becomes the new right eye
    assert torch.allclose(flipped[0, 1], points[0, 0] * torch.tensor([-1.0, 1.0]))
    assert torch.allclose(flipped[0, 10], points[0, 10] * torch.tensor([-1.0, 1.0]))  # nose tip stays itself


def _bright_dot(hw: tuple[int, int], centre_px: tuple[float, float]) -> torch.Tensor:
    """A small Gaussian blob: its intensity centroid is ``centre_px`` (continuous pixel coordinates)."""
    h, w = hw
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return torch.exp(-((xx - centre_px[0]) ** 2 + (yy - centre_px[1]) ** 2) / (2 * 1.5**2))[None, None]


def _centroid(image: torch.Tensor) -> np.ndarray:
    h, w = image.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    weight = image[0, 0]
    return np.array([(weight * xx).sum() / weight.sum(), (weight * yy).sum() / weight.sum()])


@pytest.mark.parametrize("hw", [(96, 96), (96, 80)])
@pytest.mark.parametrize("seed", range(4))
def test_rotated_keypoint_lands_on_rotated_dot(hw: tuple[int, int], seed: int) -> None:
    centre = (hw[1] * 0.62, hw[0] * 0.35)
    image = _bright_dot(hw, centre)
    point = torch.from_numpy(points_to_network(np.array([[centre]]), *hw))
    affine = random_affine(1, 30.0, 0.1, 0.1, hw, torch.device("cpu"), torch.Generator().manual_seed(seed))
    warped, moved = warp_batch(image, point, affine)
    predicted = points_from_network(moved.numpy(), *hw)[0, 0]
    assert np.abs(_centroid(warped) - predicted).max() < 0.15


def test_identity_affine_keeps_images_and_points() -> None:
    images, points, _ = _batch(2)
    identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3)
    warped, moved = warp_batch(images, points, identity)
    assert torch.allclose(warped, images, atol=1e-5) and torch.allclose(moved, points)


def test_policies_keep_shapes() -> None:
    images, points, mask = _batch()
    for policy in AUGMENTATIONS.values():
        out = policy(images, points, mask, PERM)
        assert [t.shape for t in out] == [images.shape, points.shape, mask.shape]


def test_frame_cut_blackens_beyond_an_edge_inside_the_face_box() -> None:
    """Every cut sample loses a band at one or more sides, from just outside its landmark box to at most ``depth``
    of the box inside (hidden points do not count); the face's middle is kept; unhit samples are untouched."""
    n, hw = 64, (80, 80)
    images = torch.rand(n, 3, *hw, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.1  # no black pixels
    corners = torch.tensor([[-0.5, -0.5], [0.5, 0.5], [0.0, 0.1]])  # landmark box [-0.5, 0.5]^2
    points, mask = corners.expand(n, 3, 2).clone(), torch.ones(n, 3, dtype=torch.bool)
    mask[:, 2] = False  # a hidden point far outside must not widen the box
    points[:, 2] = torch.tensor([0.95, 0.95])
    depth = 0.25
    cut = frame_cut_batch(images, points, mask, p=0.5, depth=depth, generator=torch.Generator().manual_seed(2))
    black = (cut == 0).all(1)  # (N, H, W)
    hit = black.flatten(1).any(1)
    assert 10 < hit.sum() < 54  # p 0.5 x (1 - 1/16 with no side chosen)
    assert torch.equal(cut[~hit], images[~hit])
    centres = (2 * torch.arange(80) + 1) / 80 - 1
    deepest = 0.5 - depth * 1.0  # the box is 1.0 wide: an edge sits at most 0.25 inside it
    middle = centres.abs() < deepest - 0.02
    assert not black[:, middle][:, :, middle].any()
    rows, cols = black.all(2), black.all(1)  # cut bands span the whole crop
    assert torch.equal(black, rows[:, :, None] | cols[:, None, :])
    for band in (rows, cols):  # each band runs from the crop's side to an edge no further out than the box + 5%
        top, bottom = band[:, :40], band[:, 40:]
        assert (top[:, :-1] >= top[:, 1:]).all() and (bottom[:, :-1] <= bottom[:, 1:]).all()
        for far_side, side_pixel in ((centres < -0.56, band[:, :1]), (centres > 0.56, band[:, -1:])):
            assert torch.equal(band[:, far_side], side_pixel.expand(-1, int(far_side.sum())))
    assert (rows | cols)[hit].any(1).all()


#: The side of the dot pictures the blurs are measured on (wide enough for the longest smear).
DOT_SIZE = 41


def spread_dots(effect: Callable[..., torch.Tensor], seed: int) -> torch.Tensor:
    """64 pictures of one white dot in the middle through ``effect`` at p 0.5: checks that a share of them changed,
    the others not, and that the changed ones kept the dot's light; returns those (first channel)."""
    dots = torch.zeros(64, 3, DOT_SIZE, DOT_SIZE)
    dots[:, :, DOT_SIZE // 2, DOT_SIZE // 2] = 1.0
    out = effect(dots, p=0.5, generator=torch.Generator().manual_seed(seed))
    hit = ~(out == dots).flatten(1).all(1)
    assert 16 < hit.sum() < 48 and torch.equal(out[~hit], dots[~hit])
    light = out[hit, 0]
    assert torch.allclose(light.sum((1, 2)), torch.ones(int(hit.sum())), atol=1e-4)
    return light


def test_defocus_spreads_a_dot_by_a_sigma_in_its_range() -> None:
    """A dot blurred by :func:`defocus_batch` keeps its light and spreads with a variance of sigma^2 per axis, each
    hit sample's sigma inside ``DEFOCUS_SIGMA``, a different one per sample; unhit samples are untouched."""
    light = spread_dots(defocus_batch, seed=3)
    offsets = torch.arange(DOT_SIZE) - DOT_SIZE // 2
    sigma = (light.sum(1) * offsets.square()).sum(1).sqrt()  # the spread along x
    assert (sigma > DEFOCUS_SIGMA[0] - 0.05).all() and (sigma < DEFOCUS_SIGMA[1] + 0.05).all()
    assert sigma.std() > 0.3


def test_motion_smears_a_dot_into_a_centred_line_of_a_length_in_its_range() -> None:
    """A dot smeared by :func:`motion_batch` keeps its light, stays centred and becomes a line: its spread along its
    main axis is that of an even line of a length inside ``MOTION_LENGTH`` (variance L^2 / 12), across it half a
    pixel, lengths and angles differing between samples; unhit samples are untouched."""
    light = spread_dots(motion_batch, seed=6)
    offsets = (torch.arange(DOT_SIZE) - DOT_SIZE // 2).float()
    ys, xs = offsets.view(-1, 1).expand(DOT_SIZE, DOT_SIZE), offsets.view(1, -1).expand(DOT_SIZE, DOT_SIZE)
    mean = torch.stack([(light * xs).sum((1, 2)), (light * ys).sum((1, 2))], 1)
    assert mean.abs().max() < 1e-3
    moments = torch.stack([(light * a * b).sum((1, 2)) for a, b in ((xs, xs), (xs, ys), (ys, ys))], 1)
    spread = torch.linalg.eigvalsh(torch.stack([moments[:, :2], moments[:, 1:]], 1))  # ascending, per sample
    length = (12 * spread[:, 1]).sqrt()  # an even line's variance is L^2 / 12 (plus the splat's own)
    assert (length > MOTION_LENGTH[0] - 0.3).all() and (length < MOTION_LENGTH[1] + 0.6).all()
    assert (spread[:, 0] < 0.25).all() and length.std() > 2  # across: the splat's half pixel, no more
    assert moments[:, 1].abs().max() > 1  # tilted lines, not only level or upright ones


def test_noise_adds_speckle_of_a_sigma_in_its_range() -> None:
    """:func:`noise_batch` on mid-grey: each hit sample's noise has a standard deviation inside ``NOISE_SIGMA``,
    drawn apart per channel (colour speckle); unhit samples are untouched."""
    n = 64
    grey = torch.full((n, 3, 48, 48), 0.5)
    out = noise_batch(grey, p=0.5, generator=torch.Generator().manual_seed(4))
    hit = ~(out == grey).flatten(1).all(1)
    assert 16 < hit.sum() < 48 and torch.equal(out[~hit], grey[~hit])
    spread = (out[hit] - 0.5).flatten(1).std(1)
    assert (spread > NOISE_SIGMA[0] * 0.9).all() and (spread < NOISE_SIGMA[1] * 1.05).all()
    assert not torch.equal(out[hit][:, 0], out[hit][:, 1])


def test_cover_hides_a_share_of_the_crop_under_another_samples_pixels() -> None:
    """:func:`cover_batch` on flat samples of distinct greys: a hit sample shows the previous sample's grey over an
    ellipse of at most ``COVER_AREA``'s top share of the crop (less when it reaches past the crop's side), its own
    grey elsewhere, and only blends of the two on the feathered edge; unhit samples are untouched."""
    n, size = 64, 96
    greys = torch.linspace(0.1, 0.9, n).view(n, 1, 1, 1).expand(n, 3, size, size).contiguous()
    out = cover_batch(greys, p=0.5, generator=torch.Generator().manual_seed(5))
    hit = ~(out == greys).flatten(1).all(1)
    assert 16 < hit.sum() < 48 and torch.equal(out[~hit], greys[~hit])
    own, other = greys[:, 0, 0, 0], greys.roll(1, 0)[:, 0, 0, 0]
    weight = ((out[:, 0] - own.view(-1, 1, 1)) / (other - own).view(-1, 1, 1))[hit]  # 0: own, 1: the other's
    assert (weight > -1e-4).all() and (weight < 1 + 1e-4).all()
    covered = (weight > 0.5).flatten(1).float().mean(1)
    assert (covered > 0.01).all() and (covered < COVER_AREA[1] + 0.02).all()
    assert covered.max() > COVER_AREA[1] / 2 and covered.std() > 0.03  # sizes drawn across the range
    edge = ((weight > 0.01) & (weight < 0.99)).flatten(1).float().mean(1)
    assert (edge < covered).all()  # a feathered edge, not a fog


def test_masked_loss_ignores_hidden_points() -> None:
    _, target, mask = _batch()
    pred = target.clone()
    pred[~mask] += 100.0  # huge errors only where points are not labelled
    assert masked_loss(pred.flatten(1), target, mask).item() == pytest.approx(0.0, abs=1e-9)
    assert masked_loss(pred.flatten(1), target, torch.ones_like(mask)).item() > 1.0


@pytest.mark.parametrize("name", ["simplenet", "convnet"])
@pytest.mark.parametrize("init", ["zeros", "he"])
def test_models_output_k_times_2(name: str, init: str) -> None:
    model = build_model(name, num_points=15, init=init, dropout=0.5)
    assert model(torch.zeros(2, 1, 96, 96)).shape == (2, 30)
    if init == "zeros":
        assert all(float(p.detach().abs().sum()) == 0 for p in model.parameters())


def test_unknown_model_and_init_are_named() -> None:
    with pytest.raises(KeyError, match="known"):
        build_model("nope")
    with pytest.raises(ValueError, match="unknown init"):
        build_model("convnet", init="nope")
