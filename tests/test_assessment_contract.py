"""The assessment module's documented contract at its edges: the horizon, the replicate blocks, the flags
escalation accepts, the defaults of the Monte Carlo and the workload parts a caller hands it.

Written from the docstrings, with the expected values worked out here (issue 16: mutants that survived
``make mutate`` in gridsim/assessment.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.assessment import BLOCK, block_seeds, escalate, horizon, simulate_assessment
from gridsim.errors import GridsimError
from gridsim.policy import load_policy


@pytest.fixture(scope="module")
def small_plan():
    """Two villages of a generated register (small: the Monte Carlo stays fast)."""
    from gridsim.graph import build_graph
    from gridsim.partition.instances import register
    from gridsim.plan import Plan

    homes = register(seed=3, villages=2, communities=0)
    return Plan.from_column(homes, build_graph(homes), "current_grid_id", load_policy())


def test_the_horizon_is_whole_calendar_years_from_the_start_year():
    policy = load_policy()  # assessment.start 2024-02: the year is 2024, from January
    one = horizon(policy)
    assert len(one) == 12 and str(one[0]) == "2024-01" and str(one[-1]) == "2024-12"
    two = horizon(policy, 2026, 2)
    assert len(two) == 24 and str(two[0]) == "2026-01" and str(two[-1]) == "2027-12"
    with pytest.raises(GridsimError, match=r"years must be at least 1.*got 0"):
        horizon(policy, years=0)


def test_replicates_come_in_blocks_of_at_most_block_draws():
    one = block_seeds(7, 1, 1)
    assert [size for _, size in one] == [1]
    sizes = [size for _, size in block_seeds(7, 1, 2 * BLOCK + 3)]
    assert sizes == [BLOCK, BLOCK, 3]
    with pytest.raises(GridsimError, match=r"draws must be at least 1.*got 0"):
        block_seeds(7, 1, 0)


def test_escalation_takes_any_truthy_flags():
    """Flags may come as booleans, 0/1 floats (a mean over draws rounded) or counts: only truth matters."""
    policy = load_policy()
    periods = pd.period_range("2024-01", periods=12, freq="M")
    months = [1, 2, 5]  # February, March, June unqualified: a criticism in March, termination in June
    as_bool = np.zeros(12, bool)
    as_bool[months] = True
    expected = escalate(as_bool, periods, policy)
    assert expected["criticism"].sum() >= 1 and expected["termination"].sum() == 1
    for other in (as_bool.astype(float), as_bool.astype(int) * 2):
        got = escalate(other, periods, policy)
        for key in ("criticism", "termination", "vacant"):
            assert got[key].dtype == bool and np.array_equal(got[key], expected[key]), key


def test_the_default_monte_carlo_is_2000_draws_from_seed_0(small_plan):
    policy = load_policy()
    default = simulate_assessment(small_plan, policy, workers=1)
    assert default.draws == 2000 and default.seed == 0
    same = simulate_assessment(small_plan, policy, 2000, 0, workers=1)
    pd.testing.assert_frame_equal(default.grids, same.grids)


def test_the_workload_parts_a_caller_gives_are_the_ones_used(small_plan):
    """``parts``: the caller's parts are taken as they are, not computed again — so a caller's own parts
    (e.g. walking measured on roads) change the hours and the assessment."""
    from gridsim.pay import tallies_of
    from gridsim.workload import parts_of

    policy = load_policy()
    own = parts_of(small_plan, tallies_of(small_plan), policy)
    longer = own.assign(tour_km=own["tour_km"] * 3 + 5.0)
    plain = simulate_assessment(small_plan, policy, 200, 1, workers=1, parts=own)
    walked = simulate_assessment(small_plan, policy, 200, 1, workers=1, parts=longer)
    pd.testing.assert_frame_equal(plain.grids, simulate_assessment(small_plan, policy, 200, 1, workers=1).grids)
    assert (walked.grids["hours_month"] > plain.grids["hours_month"]).all()
    # whole numbers given as integers are the same numbers
    whole = longer.assign(tour_km=longer["tour_km"].round().astype(int), key_visits=longer["key_visits"].round())
    as_int = simulate_assessment(small_plan, policy, 200, 1, workers=1,
                                 parts=whole.assign(key_visits=whole["key_visits"].astype(int)))
    pd.testing.assert_frame_equal(as_int.grids, simulate_assessment(small_plan, policy, 200, 1, workers=1,
                                                                    parts=whole.astype({"tour_km": float})).grids)
