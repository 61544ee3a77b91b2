"""The assessment's money against arithmetic written out here, from the plan's words and the tallies.

The expectations below do not call :mod:`gridsim.visits` or :mod:`gridsim.pay`: the visits due, the miss
chance, the points, the base pay and the performance pay are computed in the test from the tallies and
numbers stated in the test. The tolerance of every Monte Carlo comparison is four standard errors of
the mean, from the variance of the quantity simulated (binomial and Poisson counts), so a deduction
rate off by a few percent fails while the simulation's own noise does not.

Fixed throughout (``uncertain=False``; the worker effect off, so every worker of a grid has the same
miss chance): the 网格长 conceals nothing; months are Feb–Dec 2024 (三(六): 自2024年2月份开始; the new
pay from February too), i.e. 11 assessed and priced months.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.assessment import simulate_assessment
from gridsim.policy import load_policy

MONTHS = 11  # February to December
DRAWS = 1500
SE = 4.0  # tolerance in standard errors of the mean


@pytest.fixture(scope="module")
def tallies():
    from gridsim.graph import build_graph
    from gridsim.plan import Plan
    from gridsim.registers import read_homes, read_layer

    homes = read_homes()
    t = Plan.from_column(homes, build_graph(homes, read_layer("barriers"))).tallies()
    # villages and communities, small and large grids
    return pd.concat([t[t["unit_type"] == "village"].iloc[:15], t[t["unit_type"] == "community"].iloc[:15]])


QUIET = {  # everything not under test off
    "assessment.other_points_mean": 0.0, "assessment.leader_concealment_rate": 0.0,
    "assessment.worker_effect_sd": 0.0, "cases.on_time_rate": 1.0, "assessment.training_absence_rate": 0.0,
    "assessment.miss_rate_base": 0.0, "assessment.rubric.max_visit_points": 1000.0,
    "assessment.unqualified_threshold": 0,  # nobody is unqualified: every month of every draw is assessed
}


def visits_by_hand(t, share, capacity, miss_base, key_points, general_points):
    """Per grid: (mean, variance) of a month's visit deduction points.

    三(四)5: every 五必访 household once a month, every other resident household once a quarter (a third
    a month); the worker does ``share`` of them (rounded to whole visits). A visit is missed with the
    base chance plus the share of the worker's visits beyond capacity; each miss costs its points.
    """
    key = t["key_households"].to_numpy(float)
    general = np.maximum(t["resident_households"].to_numpy(float) - key, 0)
    key_w = np.rint(key * 1 * share)
    general_w = np.rint(general / 3 * share)
    due = key_w + general_w
    over = np.where(due > capacity, (due - capacity) / np.maximum(due, 1), 0.0)
    p = np.clip(miss_base + over, 0, 1)
    mean = p * (key_w * key_points + general_w * general_points)
    var = p * (1 - p) * (key_w * key_points**2 + general_w * general_points**2)
    return mean, var


def base_pay_by_hand(t):
    """三(一)3: 每100户200元/月 (pro rata), at most 600 a grid; villages count houses (以房定户)."""
    counted = np.where(t["unit_type"] == "village", t["homes"], t["households"]).astype(float)
    return np.minimum(counted * 200 / 100, 600.0)


def test_visit_deductions_match_the_plan_arithmetic(tallies):
    # the worker carries 60 % of the visits, a capacity of 40 a month overloads the larger grids,
    # base miss chance 4 %, 1.5 points a missed 五必访 visit and 0.7 a missed general one
    pol = load_policy().with_overrides({
        **QUIET, "visits.worker_share": 0.6, "visits.capacity_per_worker_month": 40,
        "assessment.miss_rate_base": 0.04, "assessment.rubric.points_per_missed_key_visit": 1.5,
        "assessment.rubric.points_per_missed_general_visit": 0.7})
    r = simulate_assessment(tallies, pol, draws=DRAWS, seed=3, uncertain=False)
    mean, var = visits_by_hand(tallies, 0.6, 40, 0.04, 1.5, 0.7)
    assert (mean < 100).all() and (r.grids["p_unqualified_month"] == 0).all()
    overloaded = mean > 0.2 * mean.max()
    assert 0 < overloaded.sum() < len(mean)  # both kinds of grid are in the sample
    se = np.sqrt(var / (DRAWS * MONTHS))
    got = r.grids["expected_deduction_points_month"].to_numpy()
    assert np.all(np.abs(got - mean) <= SE * se + 1e-9), np.max(np.abs(got - mean) / se)
    # each point costs 1 % of the month's base pay (三(六)): a year's deduction in yuan
    base = base_pay_by_hand(tallies)
    assert np.allclose(r.grids["base_pay_month"], base)
    yuan = MONTHS * base * mean / 100
    yuan_se = np.sqrt(MONTHS * var) * base / 100 / np.sqrt(DRAWS)
    got_yuan = r.grids["expected_deduction_yuan_year"].to_numpy()
    assert np.all(np.abs(got_yuan - yuan) <= SE * yuan_se + 1e-9)
    # no vacancy: what is not deducted is paid
    assert np.allclose(r.grids["expected_base_pay_year"] + got_yuan, MONTHS * base)


def test_late_cases_training_and_performance_pay_match_the_plan_arithmetic(tallies):
    # cases: 2 per 100 resident households a month, 75 % on time, quality 80; 2 points a late case;
    # training in April and October (2 a year, 三(三) at least one a half year), 12 % absent, 5 points each;
    # performance pay 6 yuan a case weighted by on-time share × quality (cap 600 a quarter)
    pol = load_policy().with_overrides({
        **QUIET, "cases.per_100_households_month": 2.0, "cases.on_time_rate": 0.75, "cases.mean_quality": 80.0,
        "assessment.training_absence_rate": 0.12, "pay.performance.yuan_per_case": 6.0})
    r = simulate_assessment(tallies, pol, draws=DRAWS, seed=9, uncertain=False)
    lam = 2.0 * tallies["resident_households"].to_numpy(float) / 100  # cases a month
    late = lam * 0.25
    assert (2 * late < 10).all()  # far below the case item's 50-point cap
    # a month's points: 2 × Poisson(late); over the year also 5 × Binomial(2 sessions, 0.12) from training
    year_mean = MONTHS * 2 * late + 5 * 2 * 0.12
    year_var = MONTHS * 4 * late + 25 * 2 * 0.12 * 0.88
    got = r.grids["expected_deduction_points_month"].to_numpy()
    assert np.all(np.abs(got - year_mean / MONTHS) <= SE * np.sqrt(year_var / DRAWS) / MONTHS + 1e-9)
    # performance pay: merit = cases × on-time share × quality / 100 = on-time cases × 0.8, at 6 yuan;
    # on-time cases are Poisson(0.75 λ) a month, 11 priced months, no quarter near the 600 cap
    on_time = 0.75 * lam
    assert (on_time * 3 * 0.8 * 6 < 300).all()
    perf = MONTHS * on_time * 0.8 * 6
    perf_se = np.sqrt(MONTHS * on_time) * 0.8 * 6 / np.sqrt(DRAWS)
    got_perf = r.grids["expected_performance_pay_year"].to_numpy()
    assert np.all(np.abs(got_perf - perf) <= SE * perf_se + 1e-9)


def test_a_general_visit_costs_what_the_rubric_says_not_more(tallies):
    """The two visit kinds are priced separately: only general visits missed (no 五必访 households
    listed beyond the register's), doubling their price doubles the deduction, and a rate off by 9 %
    is tens of standard errors away."""
    pol = load_policy().with_overrides({**QUIET, "assessment.miss_rate_base": 0.05,
                                        "visits.capacity_per_worker_month": 10_000,
                                        "assessment.rubric.points_per_missed_key_visit": 0.0})
    r = simulate_assessment(tallies, pol, draws=DRAWS, seed=5, uncertain=False)
    mean, var = visits_by_hand(tallies, 1.0, 10_000, 0.05, 0.0, 0.5)
    se = np.sqrt(var / (DRAWS * MONTHS))
    got = r.grids["expected_deduction_points_month"].to_numpy()
    assert np.all(np.abs(got - mean) <= SE * se + 1e-9)
    assert np.all(np.abs(got - 1.09 * mean) > SE * se)  # a 9 % error would be seen in every grid
