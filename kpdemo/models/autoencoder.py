"""Seed 004's image-to-image networks: the Light and Medium conv encoder/decoder pairs and a PatchGAN critic.

Layer tables follow the seed's report (input 128x128 grayscale). Where the tables are ambiguous we chose:

* every decoder ends in ``tanh``: pixels are fed and predicted as ``value / 127.5 - 1`` in [-1, 1] (the seed's
  Medium decoder ends in ReLU, which cannot produce the negative half of that range);
* Light decoder channels 16 -> 8 -> 8 -> 4 -> 1 (the table says ``c=16`` but ``(16, 16, 8)`` for the first
  transposed conv; we follow the shapes);
* "same" padding everywhere, so each stride-2 layer halves (conv) or doubles (transposed conv) the side.

These are not landmark models, so they are not in :mod:`kpdemo.models.registry` (whose models output points);
:func:`build_encoder` / :func:`build_decoder` pick a family by name.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

SIDE = 128
LIGHT_EMBEDDING = 64
MEDIUM_CHANNELS = (16, 32, 64, 128, 256, 512)


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=2, padding=k // 2)


def _deconv(cin: int, cout: int, k: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=2, padding=k // 2, output_padding=1)


def light_encoder() -> nn.Module:
    """128x128x1 -> 64-d embedding (1.07 M parameters, as in the seed)."""
    return nn.Sequential(
        _conv(1, 4, 7), nn.BatchNorm2d(4),
        _conv(4, 8, 3), nn.LeakyReLU(0.2),
        _conv(8, 16, 3), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(16 * 16 * 16, 256), nn.Linear(256, LIGHT_EMBEDDING),
    )


def light_decoder() -> nn.Module:
    """64-d embedding -> 128x128x1 in [-1, 1] (0.28 M parameters)."""
    return nn.Sequential(
        nn.Linear(LIGHT_EMBEDDING, 256), nn.Linear(256, 1024), nn.Unflatten(1, (16, 8, 8)),
        _deconv(16, 8, 3), nn.Tanh(),
        _deconv(8, 8, 3), nn.Tanh(),
        _deconv(8, 4, 3), nn.Tanh(),
        _deconv(4, 1, 3), nn.Tanh(),
    )


def medium_encoder() -> nn.Module:
    """128x128x1 -> 2x2x512 (AttGAN-like; 4.37 M parameters)."""
    c = MEDIUM_CHANNELS
    layers: list[nn.Module] = [_conv(1, c[0], 7), nn.ReLU(), nn.BatchNorm2d(c[0])]
    for cin, cout in zip(c, c[1:], strict=False):
        layers += [_conv(cin, cout, 5), nn.LeakyReLU(0.2), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers)


def medium_decoder() -> nn.Module:
    """2x2x512 -> 128x128x1 in [-1, 1]."""
    c = MEDIUM_CHANNELS[::-1]
    layers: list[nn.Module] = []
    for cin, cout in zip(c, c[1:], strict=False):
        layers += [_deconv(cin, cout, 5), nn.ReLU(), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, _deconv(c[-1], 1, 3), nn.Tanh())


FAMILIES: dict[str, tuple[Callable[[], nn.Module], Callable[[], nn.Module]]] = {
    "light": (light_encoder, light_decoder),
    "medium": (medium_encoder, medium_decoder),
}


def _family(name: str) -> tuple[Callable[[], nn.Module], Callable[[], nn.Module]]:
    if name not in FAMILIES:
        raise KeyError(f"unknown autoencoder family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def build_encoder(family: str) -> nn.Module:
    return _family(family)[0]()


def build_decoder(family: str) -> nn.Module:
    return _family(family)[1]()


class PriorPlusDecoder(nn.Module):
    """A decoder whose output is added to a fixed prior image (a buffer saved with the weights).

    Why: with the prior set to the mean training target, the net starts from the best constant answer and only has
    to learn each face's departure from it. The Light decoder cannot draw that mean face itself: its per-pixel
    detail must pass through 4-channel layers, and transposed-conv biases are per channel, not per pixel.
    """

    def __init__(self, decoder: nn.Module, side: int = SIDE) -> None:
        super().__init__()
        self.net = decoder
        self.register_buffer("prior", torch.zeros(1, 1, side, side))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z) + self.prior


class SharedEncoderNet(nn.Module):
    """One encoder, one decoder per output domain (seed 004: "shared encoder with one decoder per domain").

    ``forward(x, domain)`` decodes into that domain; ``encode`` once and ``decode`` several times when a batch
    feeds several decoders. Decoders of ``prior_domains`` add a prior image (:class:`PriorPlusDecoder`).
    """

    def __init__(self, family: str, domains: tuple[str, ...], prior_domains: tuple[str, ...] = ()) -> None:
        super().__init__()
        if not domains:
            raise ValueError("give at least one output domain")
        self.family = family
        self.encoder = build_encoder(family)
        self.decoders = nn.ModuleDict({
            d: PriorPlusDecoder(build_decoder(family)) if d in prior_domains else build_decoder(family)
            for d in domains})

    @classmethod
    def for_state(cls, family: str, state: dict[str, torch.Tensor]) -> SharedEncoderNet:
        """The net whose decoders (and priors) match a saved ``state_dict``'s keys; the weights are not loaded."""
        domains = tuple(dict.fromkeys(k.split(".")[1] for k in state if k.startswith("decoders.")))
        priors = tuple(k.split(".")[1] for k in state if k.startswith("decoders.") and k.endswith(".prior"))
        return cls(family, domains, priors)

    def set_prior(self, domain: str, image: torch.Tensor) -> None:
        """Set a prior domain's image, on the network's [-1, 1] scale, (H, W) or (1, 1, H, W)."""
        decoder = self.decoders[domain]
        if not isinstance(decoder, PriorPlusDecoder):
            raise ValueError(f"decoder {domain!r} has no prior")
        decoder.prior.copy_(image.reshape(decoder.prior.shape))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor, domain: str) -> torch.Tensor:
        return self.decoders[domain](z)

    def forward(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        return self.decode(self.encode(x), domain)


class PatchDiscriminator(nn.Module):
    """PatchGAN critic: one real/fake logit per non-overlapping ``patch`` x ``patch`` tile (32 px, as the seed).

    The image is cut into tiles and every tile is scored by the same small CNN, so a 128x128 input gives a 4x4
    logit map; train it with ``BCEWithLogitsLoss`` (the sigmoid gives the seed's (0, 1) patch scores).
    """

    def __init__(self, patch: int = 32, width: int = 16) -> None:
        super().__init__()
        self.patch = patch
        self.net = nn.Sequential(
            _conv(1, width, 4), nn.LeakyReLU(0.2),
            _conv(width, width * 2, 4), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2),
            _conv(width * 2, width * 4, 4), nn.BatchNorm2d(width * 4), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width * 4, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.patch
        if h % p or w % p:
            raise ValueError(f"image side {h}x{w} is not a multiple of the {p} px patch")
        tiles = x.unfold(2, p, p).unfold(3, p, p)  # (n, c, h/p, w/p, p, p)
        gh, gw = tiles.shape[2:4]
        tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(n * gh * gw, c, p, p)
        return self.net(tiles).reshape(n, 1, gh, gw)
