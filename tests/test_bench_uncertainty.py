"""``bench/uncertainty.py``'s scoring: the AUC and the shares flagged are what they say, on hand-made faces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.uncertainty import roc_auc, summarise
from kpdemo.detection import UNCERTAIN


def test_auc_counts_wrong_answers_above_right_ones() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    assert roc_auc(scores, np.array([False, False, True, True])) == 1.0
    assert roc_auc(scores, np.array([True, True, False, False])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5  # a tie counts half
    assert np.isnan(roc_auc(scores, np.zeros(4, bool)))  # no wrong answer: nothing to rank


def test_summary_shares_flagged_among_wrong_and_good_faces() -> None:
    sure, unsure = UNCERTAIN / 2, UNCERTAIN * 2
    faces = pd.DataFrame({
        "condition": ["a"] * 5,
        "nme": [0.02, 0.03, 0.20, 0.30, np.inf],  # two good, two wrong, one not found
        "uncertainty": [sure, unsure, unsure, sure, np.nan],
    })
    table = summarise(faces)
    row = table[table["condition"] == "a"].iloc[0]
    assert (row["faces"], row["found"], row["wrong"]) == (5, 4, 2)
    assert row["wrong_flagged"] == pytest.approx(0.5) and row["good_flagged"] == pytest.approx(0.5)
    assert row["auc_wrong"] == pytest.approx(0.5)
    assert list(table["condition"]) == ["a", "all"]
