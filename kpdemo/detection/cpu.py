"""What this machine's CPU is, and whether int8 networks run faster on it than float ones.

Why it matters: ONNX Runtime's int8 convolutions beat float ones only where the CPU has int8 dot-product
instructions: VNNI on x86 (Intel since Cascade Lake, AMD since Zen 4), the dot-product extension on ARM (every Apple
Silicon chip, most ARM servers). Without them (an AVX2-only x86 such as a first-generation AMD EPYC) the 68-point
model's int8 export takes 15.2 ms a face against the float one's 13.8 ms on such an EPYC
(``bench/results/onnx_int8.csv``), and it is the less accurate of the two, so live frames should run the float
network there (:class:`~kpdemo.detection.checkpoint.CheckpointPredictor`).

``KPDEMO_LIVE_INT8`` overrides the guess: ``1`` runs live frames on the int8 export wherever one exists, ``0`` never,
``auto`` (the default) where the CPU has int8 dot products.

The same instructions decide whether live frames go to a checkpoint's live-frame companion (a slimmer network,
``<stem>_live.pt``): with them, the 68-point model's int8 export reads a face in ~3.6 ms (no committed table holds
that figure), well inside a frame, so the companion's accuracy cost would buy nothing; without them its float export
costs 13.8 ms a face and the half-width companion 4.6 ms (``onnx_int8.csv``), against about 12 ms for MediaPipe's
whole frame (``bench/results/tracking.csv``). ``KPDEMO_LIVE_COMPANION`` overrides that
guess the same way (``1``, ``0``, ``auto``).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterable

from kpdemo.cpuinfo import cpuinfo

#: /proc/cpuinfo flags of int8 dot-product instructions: x86 VNNI (AVX-512 and AVX forms), ARM's dot product.
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "asimddp"})

LIVE_INT8_ENV = "KPDEMO_LIVE_INT8"
LIVE_COMPANION_ENV = "KPDEMO_LIVE_COMPANION"


def has_int8_dot_flags(flags: Iterable[str]) -> bool:
    """Whether a CPU with these /proc/cpuinfo flags has int8 dot-product instructions."""
    return bool(INT8_DOT_FLAGS & set(flags))


def has_int8_dot_product() -> bool:
    """Whether this CPU has int8 dot-product instructions: Linux reads its flags (x86 ``flags``, ARM ``Features``);
    Apple Silicon always has them; anything else counts as not having them, so the float network (never slower
    there, and the more accurate) is the choice where we cannot tell."""
    if platform.system() == "Darwin":
        return platform.machine() == "arm64"
    flags = cpuinfo("flags") or cpuinfo("Features") or ""
    return has_int8_dot_flags(flags.split())


def _switch(env: str, auto: Callable[[], bool], meaning: str) -> bool:
    """A ``1`` / ``0`` / ``auto`` setting from ``env`` (``auto`` or unset: ``auto()``, the CPU's flags read only
    then); ValueError naming it otherwise."""
    setting = os.environ.get(env, "auto").strip().lower()
    if setting == "auto":
        return auto()
    if setting in ("1", "0"):
        return setting == "1"
    raise ValueError(f"{env}={setting!r}: use 1 ({meaning}), 0 (never) or auto")


def live_frames_use_int8() -> bool:
    """Whether live frames should run a checkpoint's int8 export (when it has one): ``$KPDEMO_LIVE_INT8``, else
    whether the CPU has int8 dot products. Raises ValueError naming the setting when it holds anything else."""
    return _switch(LIVE_INT8_ENV, has_int8_dot_product, "int8 exports on live frames")


def live_frames_use_companion() -> bool:
    """Whether live frames should go to a checkpoint's live-frame companion (when it has one):
    ``$KPDEMO_LIVE_COMPANION``, else whether the CPU lacks int8 dot products (module docstring). Raises ValueError
    naming the setting when it holds anything else."""
    return _switch(LIVE_COMPANION_ENV, lambda: not has_int8_dot_product(), "live-frame companions on live frames")
