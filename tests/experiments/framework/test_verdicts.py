"""The verdict rule shared by the sphere and real-data experiments (``experiments.verdicts``), on
constructed per-draw ratios whose answer is known."""

import numpy as np
import pytest

from experiments.framework import verdicts

UP, DOWN = [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]


def _ratios(layer0, others=None):
    """Per-draw ratios ``(D, K, L-1)`` with layer 0 = ``layer0`` ``(D, K)`` and a second layer
    ``others`` (default: increasing in every draw, so that claims A and B agree)."""
    v = np.asarray(layer0, float)
    r = np.empty((*v.shape, 2))
    r[..., 0] = v
    r[..., 1] = 0.5 * np.asarray(UP) if others is None else others
    return r


def test_all_draws_increasing_holds():
    r = _ratios([UP] * 8)
    for claim in "ABC":
        assert verdicts.verdict(r, claim) == ("holds", 1.0), claim


def test_seven_of_eight_holds_six_of_eight_unresolved():
    seven = _ratios([UP] * 7 + [DOWN])
    assert np.all(np.diff(verdicts.nanmedian(seven)[:, 0]) > 0)  # the median increases
    assert verdicts.verdict(seven, "A", 0.8) == ("holds", 0.875)
    assert verdicts.verdict(seven, "A", 0.9) == ("unresolved", 0.875)  # 87.5% < 90%
    six = _ratios([UP] * 6 + [DOWN] * 2)
    assert np.all(np.diff(verdicts.nanmedian(six)[:, 0]) > 0)
    assert verdicts.verdict(six, "A", 0.8) == ("unresolved", 0.75)  # 75% < 80%
    assert verdicts.verdict(six, "A", 0.75) == ("holds", 0.75)


def test_decreasing_fails():
    assert verdicts.verdict(_ratios([DOWN] * 8), "A") == ("fails", 0.0)
    seven = _ratios([DOWN] * 7 + [UP])
    assert verdicts.verdict(seven, "A", 0.8) == ("fails", 0.125)
    six = _ratios([DOWN] * 6 + [UP] * 2)
    assert verdicts.verdict(six, "A", 0.8) == ("unresolved", 0.25)  # 75% fail < 80%


def test_claims_b_and_c_look_at_their_own_entries():
    # layer 0 increasing but layer 1 decreasing in every draw: A holds, B fails
    r = _ratios([UP] * 8, others=[2.0, 1.0, 0.5])
    assert verdicts.verdict(r, "A") == ("holds", 1.0)
    assert verdicts.verdict(r, "B") == ("fails", 0.0)
    # at the top degree layer 0 (3) is below layer 1 (5): C fails; above it (0.5 · 3): C holds
    assert verdicts.verdict(_ratios([UP] * 8, others=[1.0, 2.0, 5.0]), "C") == ("fails", 0.0)
    assert verdicts.verdict(_ratios([UP] * 8), "C") == ("holds", 1.0)
    with pytest.raises(ValueError, match="claim"):
        verdicts.verdict(r, "Z")


def test_nan_draws_count_neither_way():
    nan = [1.0, np.nan, 3.0]
    # 6 draws for, 2 undefined: the undefined draws do not hold (75% < 80%) ...
    r = _ratios([UP] * 6 + [nan] * 2)
    assert verdicts.verdict(r, "A", 0.8) == ("unresolved", 0.75)
    assert verdicts.verdict(r, "A", 0.75) == ("holds", 0.75)
    # ... and do not fail: 6 draws against, 2 undefined is not 80% against
    r = _ratios([DOWN] * 6 + [nan] * 2)
    assert verdicts.verdict(r, "A", 0.8) == ("unresolved", 0.0)
    assert verdicts.verdict(r, "A", 0.75) == ("fails", 0.0)
    # a NaN in an entry the claim does not compare changes nothing (C: the top degree only)
    r = _ratios([nan] * 8)
    assert verdicts.verdict(r, "C") == ("holds", 1.0)


def test_nan_median_is_unresolved():
    r = _ratios([UP] * 8)
    r[:, 1, 0] = np.nan  # undefined in every draw: the median is NaN there
    assert np.isnan(verdicts.nanmedian(r)[1, 0])
    assert verdicts.verdict(r, "A")[0] == "unresolved"
    assert verdicts.verdict(r, "B")[0] == "unresolved"
    assert verdicts.verdict(r, "C") == ("holds", 1.0)  # compares k = 3 only


def test_claim_rows_leave_out_undefined_degrees_and_add_the_reference():
    degrees = np.array([1, 2, 3])
    draws = _ratios([UP] * 8)
    draws[:, 1] = np.nan  # k = 2 undefined in every draw (e.g. a vanishing eigenvalue)
    draws[3, 0, 0] = np.nan  # undefined in one draw only: k = 1 stays
    reference = _ratios([DOWN] * 8, others=[2.0, 1.0, 0.5])
    reference[:, 1] = np.nan
    rows = verdicts.claim_rows(
        draws, degrees, "test", expected="paper: holds", agreement=0.8, reference=reference
    )
    assert len(rows) == 4
    assert rows[3]["verdict"] == "holds" and rows[3]["expected"].endswith("fails (0% of draws)")
    rows = rows[:3]
    for row, claim in zip(rows, "ABC"):
        assert set(row) == {"check", "measured", "expected", "verdict"}
        assert row["check"].startswith(verdicts.CLAIMS[claim])
        assert "k ∈ (1, 3)" in row["check"] and "k = 2 undefined (left out)" in row["check"]
        assert "8 draws" in row["check"]
        assert row["expected"].startswith("paper: holds; ∞-width on the same points: ")
    # without k = 2, A holds in the 7 draws where it is defined (87.5% ≥ 80%)
    assert [r["verdict"] for r in rows] == ["holds", "holds", "holds"]
    assert "holds in 88% of draws" in rows[0]["measured"]
    assert rows[0]["expected"].endswith("fails (0% of draws)")  # reference: layer 0 decreases
    assert rows[1]["expected"].endswith("fails (0% of draws)")
    assert rows[2]["expected"].endswith("holds (100% of draws)")  # 1 > 0.5 at k = 3


def test_claim_d_compares_only_the_end_degrees():
    bumpy = _ratios([[1.0, 3.0, 2.0]] * 8)  # up, then down: A fails, D holds
    assert verdicts.verdict(bumpy, "A") == ("fails", 0.0)
    assert verdicts.verdict(bumpy, "D") == ("holds", 1.0)
    assert verdicts.verdict(_ratios([DOWN] * 8), "D") == ("fails", 0.0)
    nan_end = _ratios([UP] * 8)
    nan_end[:3, -1, 0] = np.nan  # 3 draws undecided: 5 of 8 hold, none fails
    assert verdicts.verdict(nan_end, "D") == ("unresolved", 0.625)


def test_claim_rows_without_undefined_degrees_or_reference():
    rows = verdicts.claim_rows(_ratios([DOWN] * 8), [1, 2, 3], "x", expected="e", claims="AB")
    assert [r["verdict"] for r in rows] == ["fails", "fails"]  # B fails with A
    assert all("undefined" not in r["check"] and r["expected"] == "e" for r in rows)
    # one defined degree: no ordering in k to judge (A, B left out), C remains
    draws = _ratios([UP] * 8)
    draws[:, :2] = np.nan
    rows = verdicts.claim_rows(draws, [1, 2, 3], "x", expected="e")
    assert len(rows) == 1 and rows[0]["check"].startswith(verdicts.CLAIMS["C"])
    assert "k = 1, 2 undefined (left out)" in rows[0]["check"]
