"""Experiment dashboard: Plotly figures and pandas tables built from run records (no Gradio here).

Used by the app's Experiments tab (:mod:`kpdemo.ui.experiments`) and usable on its own, e.g. in a notebook::

    from kpdemo.dashboard import CurveOptions, RunSet, curves_figure
    runs = RunSet.load().experiment("optimizers")
    curves_figure(runs, "optimizers", CurveOptions(colour_by="optimizer", log_y=True)).show()
"""

from kpdemo.dashboard.curves import (
    CurveOptions,
    curve_series,
    curves_figure,
    ema,
    empty_figure,
    small_multiples_figure,
)
from kpdemo.dashboard.records import RunSet, experiment_names, registered_experiments
from kpdemo.dashboard.table import FilterError, filter_runs, runs_table

__all__ = ["CurveOptions", "FilterError", "RunSet", "curve_series", "curves_figure", "ema", "empty_figure",
           "experiment_names", "filter_runs", "registered_experiments", "runs_table", "small_multiples_figure"]
