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


def test_worker_effects_have_mean_one():
    """``_lognormal_effect``: mean-one log-normal effects (exp(σZ − σ²/2)), so the effect's spread never moves
    the average worker."""
    from gridsim.assessment import _lognormal_effect

    rng = np.random.default_rng(11)
    for sigma in (0.3, 0.6):
        x = _lognormal_effect(rng, sigma, (400_000,))
        se = np.sqrt(np.expm1(sigma**2) / x.size)
        assert abs(x.mean() - 1.0) < 4 * se, (sigma, x.mean())


def _only(policy, **overrides):
    return policy.with_overrides({k.replace("__", "."): v for k, v in overrides.items()})


def test_other_deductions_average_their_stated_mean(small_plan):
    """With no missed visits, no cases, no training absence, no concealment and one kind of worker, a month's
    deduction is the "other" points alone: gamma of mean ``assessment.other_points_mean``, in half points."""
    policy = load_policy().with_overrides({
        "assessment.miss_rate_base": 0.0, "cases.per_100_households_month": 0.0,
        "assessment.training_absence_rate": 0.0, "assessment.leader_concealment_rate": 0.0,
        "assessment.worker_effect_sd": 0.0, "assessment.other_points_mean": 4.0})
    res = simulate_assessment(small_plan, policy, 400, 2, uncertain=False, workers=1)
    points = res.grids["expected_deduction_points_month"]
    months = len(res.periods) - 1  # assessed from February
    se = np.sqrt(2 * 2.0**2 / (400 * months * len(points)))  # gamma(2, scale 2): variance 8
    assert abs(points.mean() - 4.0) < 4 * se + 0.02, points.mean()  # + the half-point rounding
    assessed = res.monthly.iloc[1:]  # February to December
    assert assessed["mean_score"].between(90.0, 100.0).all() and assessed["share_unqualified"].eq(0.0).all()
    assert abs(assessed["mean_score"].mean() - (100.0 - points.mean())) < 0.05


def test_the_score_distribution_counts_every_assessed_month(small_plan):
    """Only the training sessions deduct (every participant absent): the months with a session score lower,
    the others 100 — the distribution holds both, in the share of months each has."""
    res = simulate_assessment(small_plan, _quiet(**{"assessment.other_points_mean": 0.0,
                                                   "assessment.training_absence_rate": 1.0,
                                                   "assessment.leader_concealment_rate": 0.0}), 50, 10,
                              uncertain=False, workers=1)
    dist = res.score_distribution
    assert sorted(dist["score"].unique())[-1] == 100.0 and dist["score"].nunique() == 2
    low = dist[dist["score"] < 100.0].groupby("grid_id")["share"].sum()
    assert len(low) == len(res.grids) and low.between(1 / 11 - 1e-9, 0.5).all() and low.nunique() == 1


def test_months_before_the_new_rules_are_assessed_but_not_priced(small_plan):
    """``timing.new_rules_start`` 2024-03 (scenario start_after_deadline): February is assessed, its deductions
    cost nothing; the money figures stay numbers."""
    res = simulate_assessment(small_plan, load_policy("start_after_deadline"), 100, 11, workers=1)
    assert np.isfinite(res.replicates["deduction_yuan"]).all() and np.isfinite(res.grids["expected_deduction_yuan_year"]).all()
    feb = list(map(str, res.periods)).index("2024-02")
    assert res.deducted[:, feb, :].sum() == 0 and res.deducted[:, feb + 1:, :].sum() > 0
    assert res.monthly.loc[feb, "mean_score"] < 100.0  # assessed all the same


def test_a_worker_unqualified_every_month_is_criticised_and_replaced_on_schedule(small_plan):
    """Every month unqualified from January (other points far above 100): criticism at the 2nd unqualified month,
    termination at the 3rd, two vacant months, then a new worker — criticisms in Feb, Jul, Dec and
    terminations in Mar, Aug; the chance of at least one in the year is 1, never more."""
    policy = load_policy().with_overrides({
        "assessment.other_points_mean": 1e7, "assessment.start": "2024-01", "timing.new_rules_start": "2024-01",
        "assessment.leader_concealment_rate": 0.0, "assessment.worker_effect_sd": 0.0})
    res = simulate_assessment(small_plan, policy, 20, 3, uncertain=False, workers=1)
    grids = len(res.grids)
    monthly = res.monthly.set_index("period")
    crit = monthly["expected_criticisms"] / grids
    term = monthly["expected_terminations"] / grids
    assert list(crit[crit > 0].index) == ["2024-02", "2024-07", "2024-12"] and (crit[crit > 0] == 1).all()
    assert list(term[term > 0].index) == ["2024-03", "2024-08"] and (term[term > 0] == 1).all()
    assert (res.grids["p_criticism"] == 1.0).all() and (res.grids["p_termination"] == 1.0).all()
    assert (res.grids["mean_score"] == 0.0).all()  # deductions beyond 100 points: the score stops at 0
    in_post = monthly["mean_score"].notna()
    assert in_post.sum() >= 8 and (monthly.loc[in_post, "share_unqualified"] == 1.0).all()


def test_performance_pay_is_paid_at_the_end_of_each_period_and_of_the_horizon(small_plan):
    """``pay.performance.period_months`` 5: periods end in May and October, and the year's last, shorter
    period in December."""
    policy = load_policy().with_overrides({"pay.performance.period_months": 5})
    res = simulate_assessment(small_plan, policy, 50, 4, workers=1)
    paid = res.performance_paid.sum(axis=(0, 2))
    assert [str(res.periods[t]) for t in np.flatnonzero(paid > 0)] == ["2024-05", "2024-10", "2024-12"]


def test_workers_differ_in_the_visits_they_miss(small_plan):
    """``assessment.worker_effect_sd``: some workers miss more visits than others all year (a worker's effect
    multiplies the miss rate). With only missed visits deducted, a replicate's deductions then spread much
    wider than with identical workers, the average staying put."""
    base = load_policy().with_overrides({
        "assessment.miss_rate_base": 0.05, "cases.per_100_households_month": 0.0, "assessment.other_points_mean": 0.0,
        "assessment.training_absence_rate": 0.0, "assessment.leader_concealment_rate": 0.0})
    spread = {}
    for sd in (0.0, 0.8):
        res = simulate_assessment(small_plan, base.with_overrides({"assessment.worker_effect_sd": sd}), 400, 5,
                                  uncertain=False, workers=1)
        points = res.grids["expected_deduction_points_month"]
        spread[sd] = (res.replicates["deduction_yuan"].std(), points.mean())
    assert spread[0.8][0] > 1.5 * spread[0.0][0], spread
    assert spread[0.8][1] == pytest.approx(spread[0.0][1], rel=0.1)  # mean-one effects: the same misses on average


def _quiet(**overrides):
    """Only the "other" deductions (no missed visits, cases or training absence), one kind of worker."""
    return load_policy().with_overrides({
        "assessment.miss_rate_base": 0.0, "cases.per_100_households_month": 0.0,
        "assessment.training_absence_rate": 0.0, "assessment.worker_effect_sd": 0.0, **overrides})


def test_a_month_without_deductions_has_nothing_to_conceal(small_plan):
    res = simulate_assessment(small_plan, _quiet(**{"assessment.other_points_mean": 0.0,
                                                   "assessment.leader_concealment_rate": 0.5,
                                                   "assessment.spot_check_rate": 1.0}), 100, 6, uncertain=False, workers=1)
    assert res.grids["expected_deduction_points_month"].eq(0).all()
    assert res.grids["expected_leader_findings_year"].eq(0).all() and res.replicates["leader_findings"].eq(0).all()


def test_every_concealed_month_with_a_deduction_is_found_when_every_month_is_checked(small_plan):
    """Spot checks on every month: a 网格长 who conceals a month with any deduction — half a point is enough —
    is found, so findings per grid and year = concealment rate × months with deductions (11 assessed months)."""
    mean = 0.3  # deductions of half a point or a point, in most months none
    clean = simulate_assessment(small_plan, _quiet(**{"assessment.other_points_mean": mean,
                                                     "assessment.leader_concealment_rate": 0.0}), 400, 7,
                                uncertain=False, workers=1)
    dist = clean.score_distribution
    deducted = 1.0 - dist[dist["score"] == 100.0].set_index("grid_id")["share"].reindex(clean.grids.index).fillna(0.0)
    assert 0.2 < deducted.mean() < 0.8
    found = simulate_assessment(small_plan, _quiet(**{"assessment.other_points_mean": mean,
                                                     "assessment.leader_concealment_rate": 0.5,
                                                     "assessment.spot_check_rate": 1.0}), 400, 7,
                                uncertain=False, workers=1)
    expected = 0.5 * deducted.mean() * 11
    n = 400 * 11 * len(found.grids)
    se = 11 * np.sqrt(0.5 * deducted.mean() * (1 - 0.5 * deducted.mean()) / n)
    assert abs(found.grids["expected_leader_findings_year"].mean() - expected) < 4 * se + 0.02, expected


def test_spot_checks_are_drawn_grid_by_grid(small_plan):
    """Each grid's month is checked on its own (``assessment.spot_check_rate``): a replicate's findings are a sum
    of independent grid-months, so they spread like a binomial count, not all-or-none months."""
    res = simulate_assessment(small_plan, _quiet(**{"assessment.other_points_mean": 8.0,
                                                   "assessment.leader_concealment_rate": 0.5,
                                                   "assessment.spot_check_rate": 0.2}), 400, 8,
                              uncertain=False, workers=1)
    n, p = 11 * len(res.grids), 0.5 * 0.2  # nearly every month has deductions at a mean of 8 points
    counts = res.replicates["leader_findings"]
    assert abs(counts.mean() - n * p) < 0.1 * n * p
    assert counts.std() < 1.5 * np.sqrt(n * p * (1 - p)), (counts.std(), np.sqrt(n * p * (1 - p)))


GRID_COLUMNS = ["basis_households", "base_pay_month", "visits_due_month", "worker_visits_month", "visit_load_ratio",
                "hours_month", "hours_overload_share", "p_unqualified_month", "p_criticism", "p_termination",
                "mean_score", "score_p5", "expected_deduction_points_month", "expected_deduction_yuan_year",
                "expected_vacant_months_year", "expected_base_pay_year", "expected_performance_pay_year",
                "expected_leader_findings_year"]


def test_per_grid_figures_are_per_year_and_agree_with_the_months_replicates_and_money(small_plan):
    """Over two years, the per-grid yearly expectations are the same simulation as the months, the replicates
    and the money arrays, divided by replicates *and* years; the grid frame has its documented columns."""
    from gridsim.workload import hours_overload, param_values, plan_parts

    policy = load_policy()
    r = simulate_assessment(small_plan, policy, draws=40, seed=4, years=2, workers=1)
    g, m, reps, years, draws = r.grids, r.monthly, r.replicates, 2, 40
    assert all(c in g.columns for c in GRID_COLUMNS) and len(m) == 24
    rel = dict(rel=1e-9, abs=1e-9)
    assert g["expected_base_pay_year"].sum() * years == pytest.approx(r.base_paid.sum() / draws, **rel)
    assert g["expected_performance_pay_year"].sum() * years == pytest.approx(r.performance_paid.sum() / draws, **rel)
    assert g["expected_deduction_yuan_year"].sum() * years == pytest.approx(r.deducted.sum() / draws, **rel)
    assert g["expected_deduction_yuan_year"].sum() * years == pytest.approx(reps["deduction_yuan"].mean(), **rel)
    assert g["expected_vacant_months_year"].sum() * years == pytest.approx(m["expected_vacant_grids"].sum(), **rel)
    assert g["expected_leader_findings_year"].sum() * years == pytest.approx(m["expected_leader_findings"].sum(), **rel)
    assert m["expected_leader_findings"].sum() == pytest.approx(reps["leader_findings"].mean(), **rel)
    assert m["expected_criticisms"].sum() == pytest.approx(reps["criticisms"].mean(), **rel)
    assert m["expected_terminations"].sum() == pytest.approx(reps["terminations"].mean(), **rel)
    assert (g["p_criticism"] * draws * years).round(9).mod(1).eq(0).all()  # grid-years with a criticism, per year
    assert g["p_termination"].le(g["p_criticism"]).all() and g["p_criticism"].le(1).all()
    parts = plan_parts(small_plan, policy)
    assert np.allclose(g["hours_overload_share"], hours_overload(parts, param_values(policy)))
