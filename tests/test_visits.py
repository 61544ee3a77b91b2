"""Visit workload of 三(四)5 worked out by hand: 五必访 households monthly, other families quarterly, the
worker's load against capacity, the share beyond it and the chance of a missed visit (gridsim.visits).

Each expected value is computed in the test from the plan's words and the model's docstrings, on registers
with odd counts (rounding in both directions, a grid with no households, more 五必访 households registered
than live there), at rule values other than the plan's minimum where the plan's 1 would hide a wrong operator.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from gridsim.policy import load_policy
from gridsim.visits import key_households, miss_probability, overload_share, visit_counts, visit_workload


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _tallies(resident, key, households=None):
    """Grid tallies as a Plan gives them (indexed by grid_id), with the columns the visit model reads."""
    n = len(resident)
    return pd.DataFrame({"unit_id": ["u"] * n, "unit_type": ["community"] * n, "homes": [1] * n,
                         "households": households or [r + 5 for r in resident], "resident_households": resident,
                         "key_households": key},
                        index=pd.Index([f"g{i + 1:02d}" for i in range(n)], name="grid_id"))


def test_assumed_key_households_are_whole_households_per_grid(policy):
    """A register listing no 五必访 household gets 8 % of the visit basis (resident households), rounded to
    whole households, as a count per grid, indexed and named like the other tallies."""
    assert policy["visits.key_household_share"] == 0.08 and policy["visits.basis"] == "resident_households"
    t = _tallies([100, 37, 31, 0], [0, 0, 0, 0])
    # 100 × 0.08 = 8; 37 × 0.08 = 2.96 → 3; 31 × 0.08 = 2.48 → 2; 0 → 0
    expected = pd.Series([8, 3, 2, 0], index=t.index, name="key_households", dtype="int64")
    pd.testing.assert_series_equal(key_households(t, policy), expected)


def test_visits_due_at_stricter_frequencies(policy):
    """Due visits are key × visits per month + others × visits per quarter / 3: at 2 a month and 2 a
    quarter a grid of 100 resident households, 10 of them 五必访, owes 10 × 2 + 90 × 2 / 3 = 80 visits."""
    t = _tallies([100, 43], [10, 7])
    strict = policy.with_overrides({"visits.key.min_per_month": 2, "visits.general.min_per_quarter": 2})
    c = visit_counts(t, strict)
    assert list(c["key_visits_month"]) == [20, 14]
    assert list(c["general_visits_month"]) == [60, 24]  # 90 × 2 / 3 = 60; 36 × 2 / 3 = 24
    assert list(c["visits_due_month"]) == [80, 38]
    monthly = visit_counts(t, policy.with_overrides({"visits.general.min_per_quarter": 3}))  # every family monthly
    assert list(monthly["general_visits_month"]) == [90, 36]
    assert list(monthly["visits_due_month"]) == [100, 43]


def test_no_general_visits_where_every_resident_household_is_key(policy):
    """Others are the basis's households that are not 五必访: none when all are (or when the register lists more
    五必访 households than live in the grid), and a grid without households owes nothing."""
    t = _tallies([12, 10, 0], [12, 14, 0])
    monthly = policy.with_overrides({"visits.general.min_per_quarter": 3})  # one visit a month per other family
    c = visit_counts(t, monthly)
    assert list(c["general_visits_month"]) == [0, 0, 0]
    assert list(c["key_visits_month"]) == [12, 14, 0]
    assert list(c["visits_due_month"]) == [12, 14, 0]


def test_visit_counts_are_whole_visits(policy):
    """A visit is made or not: every count column is an integer column, the quarter's visits spread over its
    months and rounded (20 others → 20 / 3 = 6.67 → 7; 41 → 13.67 → 14)."""
    t = _tallies([25, 44], [5, 3])
    c = visit_counts(t, policy)
    for name in ("visits_due_month", "key_visits_month", "general_visits_month", "worker_visits_month"):
        assert c[name].dtype.kind == "i", name
    assert list(c["general_visits_month"]) == [7, 14]
    assert list(c["visits_due_month"]) == [12, 17]  # rint(5 + 6.67) = 12; rint(3 + 13.67) = 17


def test_workload_against_a_given_capacity(policy):
    """With a capacity of 50 visits a month: 40 due → load 0.8, none beyond; 120 due → load 2.4 and 70 of the
    120 beyond capacity; nothing due → load 0 and no overload."""
    t = _tallies([100, 310, 0], [10, 25, 0])  # worker visits: 10 + 90/3 = 40; 25 + 285/3 = 120; 0
    w = visit_workload(t, policy, capacity=50)
    assert list(w.columns) == ["visits_due_month", "key_visits_month", "general_visits_month",
                               "worker_visits_month", "capacity_month", "load_ratio", "overload_share"]
    assert list(w.index) == list(t.index)
    assert list(w["worker_visits_month"]) == [40, 120, 0]
    assert list(w["capacity_month"]) == [50.0, 50.0, 50.0]
    assert w["load_ratio"].tolist() == pytest.approx([0.8, 2.4, 0.0])
    assert w["overload_share"].tolist() == pytest.approx([0.0, 70 / 120, 0.0])
    default = visit_workload(t, policy)  # the policy's capacity, 120 a month
    assert list(default["capacity_month"]) == [120.0] * 3
    assert default["load_ratio"].tolist() == pytest.approx([40 / 120, 1.0, 0.0])


def test_overload_share_is_the_part_beyond_capacity_without_warnings():
    """``max(0, due − capacity) / due``, 0 where nothing is due — quietly, since an empty grid (or a worker who
    carries no visits) is an ordinary case, not an invalid division to warn about."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        share = overload_share(np.array([0, 1, 3, 200]), 0.5)
        none = overload_share([0, 4], 0.0)  # no capacity: every due visit is beyond it
    assert share.tolist() == pytest.approx([0.0, 0.5, 2.5 / 3, 199.5 / 200])
    assert none.tolist() == [0.0, 1.0]


def test_overload_share_of_unsigned_counts():
    """Counts stored unsigned (as a count column may be) give the same shares: 7 visits against a capacity of
    120 are within it, not 7 − 120 wrapped round to a huge excess."""
    for dtype in (np.uint16, np.uint32, np.int64):
        assert overload_share(np.array([0, 7, 200], dtype=dtype), 120).tolist() == pytest.approx([0.0, 0.0, 0.4])


def test_miss_probability_stays_a_probability(policy):
    """``worker_effect × base_rate + elasticity × overload_share`` (elasticity 1), clipped to [0, 1] at both
    ends: a term that takes the sum below 0 gives 0, one above 1 gives 1."""
    p = miss_probability(np.array([0.03, 0.03, 0.5, -0.2]), np.array([0.0, 0.25, 0.9, 0.1]), policy,
                         worker_effect=np.array([1.0, 2.0, 1.0, 1.0]))
    assert p.tolist() == pytest.approx([0.03, 0.31, 1.0, 0.0])
