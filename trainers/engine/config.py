"""One training run's settings as a flat dataclass: typed ``key=value`` overrides, a derived run name, and a
round trip through the run record (``record["config"]`` is ``asdict(config)``, so any run can be re-created)."""

from __future__ import annotations

import ast
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

#: The values ``optimizer``, ``schedule`` and ``sampling`` take (the app's Train form offers them; the grid engine's
#: stacked optimizer implements each optimizer).
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "cosine")
SAMPLINGS = ("uniform", "yaw")
#: What ``--quick`` appends to an experiment's folder name (its runs stay apart from the real ones).
QUICK_SUFFIX = "-quick"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run's outcome. Defaults are seed 001's best guess (ConvNet, Adam)."""

    experiment: str = "adhoc"
    dataset: str = "kaggle15"
    model: str = "convnet"
    init: str = "default"  # zeros | xavier | he | default
    dropout: float = 0.0
    optimizer: str = "adam"  # one of OPTIMIZERS
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"  # one of SCHEDULES
    loss: str = "mse"  # mse | l1 | wing (models with their own ``landmark_loss``, e.g. pip, use theirs)
    augmentation: str = "none"  # see kpdemo.training.augment.AUGMENTATIONS
    sampling: str = "uniform"  # one of SAMPLINGS: each face once an epoch | turned faces drawn more (engine.train)
    context: float = 1.0  # stored crops are this much wider than the model's (see Augmentation); 1 = same size
    ema: float = 0.0  # >0: evaluate and keep an exponential moving average of the weights with this decay
    batch_size: int = 64
    epochs: int = 30
    train_subset: int = 0  # 0 = all training images; >0 = a seeded subset of that many (CPU budgets)
    eval_subset: int = 0  # 0 = all; >0 caps the val and test images evaluated (CPU budgets)
    folds: int = 0  # >0: k-fold cross-validation over train+val, grouped by identity
    fold: int = 0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = False  # bf16 autocast on CUDA
    channels_last: bool = True  # faster convs on CPU (oneDNN) and GPU
    compile: bool = False  # the training loss through torch.compile (trainers.engine.compiled); grid-at-once, the
    # stacked optimizer's update too (trainers.engine.fused_optim); each kept only where it times faster
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # model-specific builder arguments (saved in meta)
    weights: str = ""  # starting weights: a file or "run:TAG" (see trainers.engine.weights); "" = the init scheme
    tag: str = ""  # a label leading the run name (e.g. "pretrain_ytf"), for runs the other fields do not tell apart
    #: What an override changed that the name's other parts do not show (the dataset, the start weights, ...), put
    #: there by trainers.engine.identity.with_variant, so that such a run keeps a folder of its own; after the tag.
    variant: str = ""

    def run_name(self) -> str:
        """A readable, deterministic name from the settings that distinguish runs within a grid, and the
        ``variant`` an override made of one."""
        parts = [part for part in (self.tag, self.variant) if part]
        parts += [self.model, self.init, self.optimizer, f"lr{self.lr:g}"]
        if self.schedule != "constant":
            parts.append(self.schedule)
        if self.augmentation != "none":
            parts.append(self.augmentation)
        if self.sampling != "uniform":
            parts.append(f"{self.sampling}bal")
        if self.dropout:
            parts.append(f"do{self.dropout:g}")
        if self.loss != "mse":
            parts.append(self.loss)
        if self.ema:
            parts.append(f"ema{self.ema:g}")
        if self.folds:
            parts.append(f"fold{self.fold}of{self.folds}")
        if self.train_subset:
            parts.append(f"n{self.train_subset}")
        parts.append(f"e{self.epochs}")
        if self.seed:
            parts.append(f"s{self.seed}")
        return "_".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild from a record's config; unknown keys are an error (a record from another trainer)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"config has keys this trainer does not know: {', '.join(unknown)}")
        defaults = cls().to_dict()
        for key, value in values.items():  # a hand-edited record's "epochs": "3" failed mid-run as a TypeError
            default = defaults[key]
            fits = isinstance(value, int | float) and not isinstance(value, bool) if type(default) is float \
                else type(value) is type(default)
            if not fits:
                raise ValueError(f"config {key} should be {_expected(default)}, got {value!r}")
        return cls(**values)


def parse_value(key: str, text: str, default: Any) -> Any:
    """``text`` converted to the type of the field's default (nanoGPT-style: literal_eval, then type check)."""
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key} expects true/false, got {text!r}")
    if isinstance(default, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"{key} expects {_expected(default)}, got {text!r}") from None
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not type(default):
        raise ValueError(f"{key} expects {_expected(default)}, got {text!r}")
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 reads as inf: no rate or rate of dropout
        raise ValueError(f"{key} expects a finite number, got {text!r}")
    return value


def _expected(default: Any) -> str:
    """The type a field of ``default``'s type takes, with its article (a float); an int is also called a whole
    number, for the app's Train form, whose users send their values through here too."""
    noun = type(default).__name__
    named = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"
    return f"{named} (a whole number)" if isinstance(default, int) else named


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply ``["key=value", ...]`` to a config, with errors naming the bad key or value."""
    defaults = config.to_dict()
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        if key not in defaults:
            raise ValueError(f"unknown config key {key!r}; known: {', '.join(defaults)}")
        changes[key] = parse_value(key, text, defaults[key])
    return replace(config, **changes)
