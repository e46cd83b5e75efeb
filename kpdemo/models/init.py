"""Weight initialisation schemes compared in seed 001 (zeros vs Xavier), plus He and PyTorch's default."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def _zeros(w) -> None:  # noqa: ANN001 - a parameter tensor
    nn.init.zeros_(w)


def _xavier(w) -> None:  # noqa: ANN001
    nn.init.xavier_uniform_(w)


def _he(w) -> None:  # noqa: ANN001
    nn.init.kaiming_normal_(w, nonlinearity="relu")


#: ``default`` keeps PyTorch's own per-layer init (Kaiming-uniform with a=sqrt(5)).
INITS: dict[str, Callable | None] = {"default": None, "zeros": _zeros, "xavier": _xavier, "he": _he}


def init_weights(model: nn.Module, scheme: str) -> None:
    """Re-initialise every conv/linear weight with ``scheme`` and zero the biases (unless ``default``).

    ``zeros`` makes every unit in a layer identical, so they receive identical gradients and never
    differentiate: the symmetry that seed 001 saw as a stalled loss.
    """
    fn = INITS[scheme]
    if fn is None:
        return
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fn(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
