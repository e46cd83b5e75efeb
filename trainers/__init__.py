"""Trainers: named experiment grids reproducing the seeds, each run recorded with :class:`kpdemo.runs.RunWriter`.

Entry points: ``python -m trainers EXPERIMENT`` (CLI), :func:`trainers.engine.train.run_config` (the app's Train tab),
:data:`trainers.grids.EXPERIMENTS` (what the app and dashboard list).
"""
