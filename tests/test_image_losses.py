"""The image trainer's losses and shape score: what each one charges for the answers that matter (the exact
copy, the blank image that plain L1 collapses to), and a clear error for a loss that does not exist."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kpdemo.frontalize.polygons import triangle_pairs
from trainers.engine.image_losses import IMAGE_LOSSES, image_loss, l1_balanced, l1_ssim
from trainers.engine.train_image import shape_iou


def _triangles(n: int = 8) -> torch.Tensor:
    """(n, 1, 128, 128) triangles on the networks' [-1, 1] scale."""
    return torch.from_numpy(triangle_pairs(n, seed=5)[0])[:, None].float() / 127.5 - 1


@pytest.mark.parametrize("name", sorted(IMAGE_LOSSES))
def test_every_loss_is_zero_for_the_exact_answer_and_positive_otherwise(name: str) -> None:
    target = _triangles()
    loss = image_loss(name)
    assert float(loss(target, target)) == pytest.approx(0.0, abs=1e-5)
    assert float(loss(target.flip(-1), target)) > 0.05


def test_balanced_l1_makes_the_blank_answer_cost_half_the_range() -> None:
    target = _triangles()
    blank = torch.full_like(target, -1.0)
    # plain L1 charges a blank image only for the few triangle pixels: the minimum the Light net falls into
    assert float(F.l1_loss(blank, target)) < 0.25
    # balanced: the whole foreground is wrong by 2 (of a [-1, 1] range), weighted as much as the background
    assert float(l1_balanced(blank, target)) == pytest.approx(1.0, abs=0.02)


def test_ssim_loss_prefers_structure_over_matching_mean() -> None:
    target = _triangles()
    flat = target.mean((2, 3), keepdim=True).expand_as(target)  # right mean brightness, no structure
    blurred = F.avg_pool2d(target, 5, stride=1, padding=2)
    assert float(l1_ssim(blurred, target)) < float(l1_ssim(flat, target))


def test_shape_iou_is_zero_for_blank_and_one_for_exact() -> None:
    truth = _triangles() * 0.5 + 0.5
    assert shape_iou(truth, truth) == pytest.approx(1.0)
    assert shape_iou(torch.zeros_like(truth), truth) == 0.0


def test_unknown_loss_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown image loss 'ssim2'.*l1_balanced"):
        image_loss("ssim2")
