"""The monthly assessment of 三(六): score threshold, escalation over a year, and the Monte Carlo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.assessment import BLOCK, escalate, is_unqualified, simulate_assessment, split_triangular
from gridsim.pay import base_pay_month
from gridsim.policy import load_policy


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def tallies():
    from gridsim.graph import build_graph
    from gridsim.plan import Plan
    from gridsim.registers import read_homes, read_layer

    homes = read_homes()
    return Plan.from_column(homes, build_graph(homes, read_layer("barriers"))).tallies()


def months(start="2024-01", n=12):
    return pd.period_range(start, periods=n, freq="M")


def flags(periods, unqualified_months):
    return np.array([str(p) in unqualified_months for p in periods])


def test_score_threshold_includes_60_by_default(policy):
    # 三(六): 月度评分在60分以下的判定为不合格; 以下 includes the number itself (民法典 第一千二百五十九条)
    assert is_unqualified(59.5, policy)
    assert is_unqualified(60.0, policy)
    assert not is_unqualified(60.5, policy)
    assert list(is_unqualified(np.array([0, 59.5, 60, 60.5, 100]), policy)) == [True, True, True, False, False]


def test_score_threshold_exclusive_reading():
    exclusive = load_policy("boundary_exclusive")
    assert is_unqualified(59.5, exclusive)
    assert not is_unqualified(60.0, exclusive)


def test_scores_move_in_the_rubrics_steps(policy, tallies):
    r = simulate_assessment(tallies.iloc[:30], policy, draws=200, seed=4)
    scores = r.score_distribution["score"]
    assert np.allclose(scores * 2, np.round(scores * 2))  # half points
    at_60 = r.score_distribution.loc[scores == 60.0, "share"].sum()
    assert at_60 > 0  # a score of exactly 60 happens, so the boundary reading matters


def test_second_month_criticism_third_termination(policy):
    p = months()
    out = escalate(flags(p, {"2024-02", "2024-04", "2024-07"}), p, policy, vacancy_months=2)
    assert [str(x) for x in p[out["criticism"]]] == ["2024-04"]
    assert [str(x) for x in p[out["termination"]]] == ["2024-07"]
    assert [str(x) for x in p[out["vacant"]]] == ["2024-08", "2024-09"]  # then a new worker


def test_new_worker_starts_clean_and_vacant_months_do_not_count(policy):
    p = months()
    unq = flags(p, {"2024-02", "2024-03", "2024-04", "2024-05", "2024-06", "2024-07", "2024-08"})
    out = escalate(unq, p, policy, vacancy_months=1)
    # Feb, Mar, Apr -> termination; May vacant; the new worker's Jun, Jul, Aug -> termination; Sep vacant
    assert [str(x) for x in p[out["termination"]]] == ["2024-04", "2024-08"]
    assert [str(x) for x in p[out["criticism"]]] == ["2024-03", "2024-07"]
    assert [str(x) for x in p[out["vacant"]]] == ["2024-05", "2024-09"]


def test_new_calendar_year_starts_clean(policy):
    p = months("2024-01", 24)
    unq = flags(p, {"2024-11", "2024-12", "2025-01"})
    out = escalate(unq, p, policy)
    assert [str(x) for x in p[out["criticism"]]] == ["2024-12"]
    assert not out["termination"].any()


def test_rolling_year_variant_carries_over(policy):
    rolling = load_policy("rolling_year")
    p = months("2024-01", 24)
    unq = flags(p, {"2024-11", "2024-12", "2025-01"})
    out = escalate(unq, p, rolling)
    assert [str(x) for x in p[out["termination"]]] == ["2025-01"]
    # ... but a month 12 months back drops out of the window
    out = escalate(flags(p, {"2024-02", "2025-01", "2025-02"}), p, rolling)
    assert [str(x) for x in p[out["criticism"]]] == ["2025-01", "2025-02"]
    assert not out["termination"].any()


def test_escalation_is_vectorised(policy):
    p = months()
    one = flags(p, {"2024-02", "2024-04", "2024-07"})
    many = np.stack([one, np.zeros_like(one), one])
    out = escalate(many, p, policy)
    single = escalate(one, p, policy)
    for k in out:
        assert np.array_equal(out[k][0], single[k]) and np.array_equal(out[k][2], single[k])
        assert not out[k][1].any()


def certain_failure(policy):
    """Every worker scores exactly 55 each assessed month: every visit missed, the visit item capped at 45
    points, nothing else deducted, no 网格长 conceals anything."""
    return policy.with_overrides({
        "assessment.miss_rate_base": 1.0, "assessment.rubric.max_visit_points": 45.0,
        "assessment.rubric.points_per_missed_key_visit": 45.0, "assessment.rubric.points_per_missed_general_visit": 45.0,
        "assessment.leader_concealment_rate": 0.0, "assessment.other_points_mean": 0.0,
        "cases.on_time_rate": 1.0, "assessment.training_absence_rate": 0.0, "assessment.worker_effect_sd": 0.0,
    })


def test_monte_carlo_with_certain_failure_follows_the_rules(policy, tallies):
    pol = certain_failure(policy)
    r = simulate_assessment(tallies.iloc[:20], pol, draws=30, seed=1, uncertain=False)
    g = r.grids
    assert (g["p_unqualified_month"] == 1.0).all()
    assert (g["mean_score"] == 55.0).all()
    assert (g["p_criticism"] == 1.0).all() and (g["p_termination"] == 1.0).all()
    # Jan unassessed and not priced (the new pay starts 2024-02); Feb unq, Mar criticism, Apr termination,
    # May-Jun vacant (2 months), Jul-Sep again, Oct-Nov vacant, Dec a third worker: 7 months at 55 % pay.
    assert (g["expected_vacant_months_year"] == 4.0).all()
    assert np.allclose(g["expected_base_pay_year"], g["base_pay_month"] * 7 * 0.55)
    assert np.allclose(r.monthly["expected_terminations"].to_numpy(),
                       [0, 0, 0, 20, 0, 0, 0, 0, 20, 0, 0, 0])
    assert r.replicates["terminations"].eq(40).all()
    assert np.allclose(r.base_paid.sum(axis=(1, 2)), g["expected_base_pay_year"].sum())


# the mean deductions against hand arithmetic (at 4 standard errors): tests/test_money_exact.py


def test_overload_raises_failure(policy):
    t = pd.DataFrame({"unit_id": ["u", "u"], "unit_type": ["community"] * 2, "homes": [10, 10],
                      "households": [200, 700], "resident_households": [150, 650], "key_households": [10, 60],
                      "counted_households": [200, 700]},
                     index=pd.Index(["small", "big"], name="grid_id"))
    r = simulate_assessment(t, policy, draws=1000, seed=0)
    g = r.grids
    assert g.loc["big", "p_unqualified_month"] > 5 * g.loc["small", "p_unqualified_month"]
    assert g.loc["big", "mean_score"] < g.loc["small", "mean_score"] - 10
    assert g.loc["big", "base_pay_month"] == base_pay_month(700, policy)


def test_seeded_and_reproducible(policy, tallies):
    t = tallies.iloc[:40]
    a = simulate_assessment(t, policy, draws=250, seed=7, workers=1)
    b = simulate_assessment(t, policy, draws=250, seed=7, workers=2)
    c = simulate_assessment(t, policy, draws=250, seed=8)
    head = simulate_assessment(t, policy, draws=BLOCK, seed=7)
    pd.testing.assert_frame_equal(a.grids, b.grids)
    assert np.array_equal(a.base_paid, b.base_paid)
    assert not np.array_equal(a.base_paid, c.base_paid)
    assert np.array_equal(head.base_paid, a.base_paid[:BLOCK])  # whole blocks do not depend on the total
    pd.testing.assert_frame_equal(head.params, a.params.iloc[:BLOCK])


def test_parameters_drawn_within_ranges(policy, tallies):
    r = simulate_assessment(tallies.iloc[:5], policy, draws=300, seed=0)
    for key in r.params.columns:
        p = policy.param(key)
        if p.drawn:
            assert r.params[key].between(*p.range).all() and r.params[key].nunique() > 1
        else:  # choices (the price per case, the pool) and readings are never drawn
            assert r.params[key].eq(policy[key]).all()
    v = r.params["assessment.vacancy_months_after_termination"]
    assert set(v.unique()) == {1, 2, 3}
    fixed = simulate_assessment(tallies.iloc[:5], policy, draws=50, seed=0, uncertain=False)
    assert (fixed.params.nunique() == 1).all()


def test_score_distribution_and_assessment_start(policy, tallies):
    r = simulate_assessment(tallies.iloc[:10], policy, draws=100, seed=0)
    shares = r.score_distribution.groupby("grid_id")["share"].sum()
    assert np.allclose(shares, 1.0)
    assert r.score_distribution["score"].between(0, 100).all()
    assert not r.monthly["assessed"].iloc[0]  # 2024-01: before the trial start (三(六): 自2024年2月份开始)
    assert r.monthly["assessed"].iloc[1:].all()


def test_observed_cases_drive_performance_pay(policy, tallies):
    from gridsim.registers import read_cases

    cases = read_cases()
    a = simulate_assessment(tallies, policy, draws=20, seed=0, cases=cases, uncertain=False)
    assert a.cases_source == "observed"
    # no vacancies in the first quarter (first possible termination is April), so Q1 pay is the formula on the
    # data of the priced months (the new pay starts 2024-02: January's cases belong to the old arrangements)
    q1 = cases[(cases["date"] >= "2024-02-01") & (cases["date"] < "2024-04-01")].groupby("grid_id").agg(n=("on_time", "size"), on=("on_time", "sum"),
                                                                    q=("quality", "sum"))
    from gridsim.pay import performance_pay

    expected = performance_pay(q1["n"], q1["on"], q1["q"], policy).sum()
    assert np.allclose(a.performance_paid[:, 2].sum(axis=1), expected)
    b = simulate_assessment(tallies, policy, draws=20, seed=0, year=2025, cases=cases)
    assert b.cases_source == "simulated"


def test_a_scenario_value_is_taken_as_given(policy, tallies):
    pol = policy.with_overrides({"cases.on_time_rate": 0.95})
    r = simulate_assessment(tallies.iloc[:5], pol, draws=100, seed=0)
    assert r.params["cases.on_time_rate"].eq(0.95).all()
    assert r.params["cases.mean_quality"].nunique() > 1  # the others still vary


def test_rolling_window_matters_only_across_years(policy, tallies):
    fail_often = {"assessment.miss_rate_base": 0.004, "assessment.rubric.max_visit_points": 45.0,
                  "assessment.rubric.points_per_missed_key_visit": 45.0,
                  "assessment.rubric.points_per_missed_general_visit": 45.0, "assessment.worker_effect_sd": 0.0}
    cal = simulate_assessment(tallies.iloc[:20], policy.with_overrides(fail_often), draws=200, seed=2, years=2)
    rol = simulate_assessment(tallies.iloc[:20], load_policy("rolling_year").with_overrides(fail_often),
                              draws=200, seed=2, years=2)
    first = slice(0, 12)
    assert np.array_equal(cal.base_paid[:, first], rol.base_paid[:, first])
    assert rol.monthly["expected_terminations"].iloc[12:].sum() > cal.monthly["expected_terminations"].iloc[12:].sum()


def test_split_triangular_median_is_the_stated_value():
    rng = np.random.default_rng(11)
    x = split_triangular(40.0, 60.0, 100.0, 200_000, rng)  # an off-centre interval
    assert x.min() >= 40.0 and x.max() <= 100.0
    assert np.median(x) == pytest.approx(60.0, abs=0.15)
    assert (x < 60.0).mean() == pytest.approx(0.5, abs=0.005)
    # mean of the two triangles: ½ (low + 2·mode)/3 + ½ (2·mode + high)/3
    assert x.mean() == pytest.approx(0.5 * (40 + 120) / 3 + 0.5 * (120 + 100) / 3, abs=0.1)


def test_every_drawn_parameter_has_its_stated_value_as_median(policy):
    from gridsim.assessment import draw_parameters

    drawn = [k for k in policy.keys() if policy.param(k).drawn]
    assert {"cases.per_100_households_month", "training.cost_yuan_per_participant", "publicity.adoption_rate",
            "visits.capacity_per_worker_month"} <= set(drawn)
    assert not {"funding.district_share", "pay.performance.yuan_per_case"} & set(drawn)  # choices are never drawn
    out = draw_parameters(policy, drawn, 20_001, np.random.default_rng(5))
    for key in drawn:
        lo, hi = policy.param(key).range
        assert np.median(out[key]) == pytest.approx(policy[key], abs=0.01 * (hi - lo)), key


def test_concealment_is_the_leaders_and_spot_checks_find_it(policy, tallies):
    """三(六): a 网格长's falsification is handled on the 网格长; the worker is not charged for it."""
    base = {"assessment.leader_concealment_rate": 0.0}
    clean = simulate_assessment(tallies.iloc[:20], policy.with_overrides(base), draws=200, seed=6, uncertain=False)
    hidden = policy.with_overrides({"assessment.leader_concealment_rate": 0.5, "assessment.spot_check_rate": 0.0})
    unfound = simulate_assessment(tallies.iloc[:20], hidden, draws=200, seed=6, uncertain=False)
    assert unfound.grids["expected_deduction_points_month"].sum() < 0.7 * clean.grids["expected_deduction_points_month"].sum()
    assert unfound.rates()["leader_findings_year"] == 0.0
    checked = policy.with_overrides({"assessment.leader_concealment_rate": 0.5, "assessment.spot_check_rate": 1.0})
    found = simulate_assessment(tallies.iloc[:20], checked, draws=200, seed=6, uncertain=False)
    assert found.rates()["leader_findings_year"] > 0
    # every concealment found: the worker's deductions stand as if nothing had been hidden
    assert found.grids["expected_deduction_points_month"].sum() == pytest.approx(
        clean.grids["expected_deduction_points_month"].sum(), rel=0.05)


def test_escalation_reads_zero_one_flags_as_unqualified_months(policy):
    """A register of 0/1 flags (as a spreadsheet gives them) escalates exactly like booleans."""
    p = months(n=12)
    as_bool = flags(p, {"2024-02", "2024-04", "2024-07"})
    as_int = as_bool.astype(int)
    got, want = escalate(as_int, p, policy), escalate(as_bool, p, policy)
    for key in ("criticism", "termination", "vacant"):
        assert got[key].dtype == bool and np.array_equal(got[key], want[key])


def test_rates_name_the_headline_rates(policy, tallies):
    res = simulate_assessment(tallies, policy, draws=50, seed=2)
    rates = res.rates()
    assert list(rates) == ["unqualified", "criticism", "termination", "leader_findings_year"]
    assert rates["unqualified"] == res.unqualified_share
    assert rates["criticism"] == pytest.approx(res.grids["p_criticism"].mean())
    assert rates["termination"] == pytest.approx(res.grids["p_termination"].mean())


def test_rates_are_per_year_whatever_the_horizon(policy, tallies):
    """Criticism, termination and 网格长 findings are chances / counts per grid and year: a two-year horizon
    gives the same yearly figures as one year (within Monte Carlo error), from the sums and from the frames."""
    from gridsim.assessment import assessment_sums

    pol = policy.with_overrides({"assessment.leader_concealment_rate": 0.5, "assessment.spot_check_rate": 1.0,
                                 "assessment.other_points_mean": 38.0})
    one = assessment_sums(tallies.iloc[:20], pol, 300, 6, uncertain=False).rates()
    two_sums = assessment_sums(tallies.iloc[:20], pol, 300, 6, years=2, uncertain=False)
    two = two_sums.rates()
    assert list(two) == ["unqualified", "criticism", "termination", "leader_findings_year"]
    assert two == pytest.approx(two_sums.result().rates())
    for key in ("unqualified", "criticism", "leader_findings_year"):
        assert one[key] > 0
        assert two[key] == pytest.approx(one[key], rel=0.2), key
