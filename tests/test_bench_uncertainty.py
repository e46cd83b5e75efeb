"""``bench/uncertainty.py``'s scoring: the AUC and the shares flagged are what they say, on hand-made faces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.uncertainty import NO_FACE, no_faces_scored, roc_auc, summarise
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


def test_the_no_face_row_stands_apart_from_all() -> None:
    faces = pd.DataFrame({
        "condition": ["a", "a", NO_FACE, NO_FACE, NO_FACE],
        "nme": [0.02, 0.20, 1.0, np.inf, np.inf],  # a false face on one non-face patch, none on two
        "uncertainty": [UNCERTAIN / 2, UNCERTAIN * 2, UNCERTAIN * 3, np.nan, np.nan],
    })
    table = summarise(faces).set_index("condition")
    assert list(table.index) == ["a", "all", NO_FACE]
    assert table.loc["all", "found"] == 2  # the false face is not one of all's faces
    assert (table.loc[NO_FACE, "found"], table.loc[NO_FACE, "wrong"]) == (1, 1)
    assert table.loc[NO_FACE, "wrong_flagged"] == 1.0


@pytest.mark.needs_data
def test_non_face_patches_score_a_found_face_as_wrong() -> None:
    from kpdemo.detection import get_predictor

    faces = no_faces_scored(get_predictor("checkpoint:ibug68_pip"))
    assert len(faces) == 100 and set(faces["nme"]) <= {1.0, np.inf}
    found = np.isfinite(faces["nme"])
    assert np.isfinite(faces.loc[found, "uncertainty"]).all() and faces.loc[~found, "uncertainty"].isna().all()
