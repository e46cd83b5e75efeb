"""Every experiment grid, registered on import: ``from trainers.grids import EXPERIMENTS``.

One module per seed or family registers its grids (and the training crops they need) with
:func:`trainers.grids.registry.register`; this package imports them in the order the CLI, the app's Train tab and
the dashboard list them (seed 001, 002, 003, 004, then the shipped landmark family).
"""

# isort: off
from trainers.grids import seed001, imm, w300, align, landmarks  # noqa: F401  (each registers its grids)
# isort: on
from trainers.grids.registry import (
    EXPERIMENTS,
    QUICK,
    Experiment,
    get_experiment,
    grid,
    own_datasets,
    own_runner,
    quick_name,
    register,
    registered,
)

__all__ = ["EXPERIMENTS", "QUICK", "Experiment", "get_experiment", "grid", "own_datasets", "own_runner",
           "quick_name", "register", "registered"]
