"""Rules of 三(一)3, 三(三), 三(七) as the plan words them, and the per-grid tallies of a plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.errors import GridsimError, InputError
from gridsim.pay import (base_pay_month, basis_households, observed_cases, pay_after_deduction, performance_pay,
                         priced_months, publicity_rewards, tallies_of, training_sessions)
from gridsim.policy import load_policy
from gridsim.visits import miss_probability, visit_workload


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def homes():
    from gridsim.registers import read_homes

    return read_homes()


@pytest.fixture(scope="module")
def today(homes):
    from gridsim.graph import build_graph
    from gridsim.plan import Plan
    from gridsim.registers import read_layer

    return Plan.from_column(homes, build_graph(homes, read_layer("barriers")))


@pytest.mark.parametrize("households, yuan", [(350, 600.0), (180, 360.0), (300, 600.0), (299, 598.0), (0, 0.0)])
def test_base_pay_baseline_pro_rata_with_cap(policy, households, yuan):
    # 三(一)3: 每100户200元/月，每个网格最高不突破600元/月
    assert base_pay_month(households, policy) == pytest.approx(yuan)


def test_base_pay_per_full_100_variant():
    pol = load_policy("pay_per_full_100")
    assert base_pay_month(180, pol) == 200.0
    assert base_pay_month(99, pol) == 0.0
    assert base_pay_month(350, pol) == 600.0


def test_base_pay_vectorised_matches_scalar(policy):
    h = np.array([0, 57, 180, 350, 1000])
    assert np.allclose(base_pay_month(h, policy), [base_pay_month(int(x), policy) for x in h])


def test_deduction_five_points_is_95_percent(policy):
    # 三(六): 每分按照月度基础工资的1%进行扣减
    assert pay_after_deduction(400.0, 5, policy) == pytest.approx(380.0)
    assert pay_after_deduction(600.0, 0, policy) == 600.0


def test_deduction_floor_at_zero_is_a_policy_choice(policy):
    assert pay_after_deduction(500.0, 120, policy) == 0.0
    unfloored = policy.with_overrides({"pay.base.floor_at_zero": False})
    assert pay_after_deduction(500.0, 120, unfloored) == pytest.approx(-100.0)


def test_performance_pay_formula_and_cap(policy):
    # 10 cases, 9 on time, mean quality 85: 10 × 8 × (0.9 × 0.85)
    assert performance_pay(10, 9, 850.0, policy) == pytest.approx(10 * 8.0 * 0.9 * 0.85)
    assert performance_pay(0, 0, 0.0, policy) == 0.0
    assert performance_pay(1000, 1000, 100000.0, policy) == policy["pay.performance.cap_yuan_quarter"]
    fewer_on_time = performance_pay(10, 5, 850.0, policy)
    assert fewer_on_time < performance_pay(10, 9, 850.0, policy)


def test_tallies_come_from_the_plan_and_conserve_households(homes, today):
    t = tallies_of(today)
    assert len(t) == homes["current_grid_id"].nunique()
    for col in ("households", "resident_households", "key_households"):
        assert int(t[col].sum()) == int(homes[col].sum())
    assert int(t["homes"].sum()) == len(homes)
    assert tallies_of(t) is t  # a tallies frame passes through
    with pytest.raises(Exception, match="Plan"):
        tallies_of(homes["current_grid_id"])  # a list of grid ids is not regrouped here


def test_counted_households_follow_the_village_count_basis(today):
    t = tallies_of(today)
    village = t["unit_type"] == "village"
    assert (t.loc[village, "counted_households"] == t.loc[village, "homes"]).all()  # 以房定户: houses
    assert (t.loc[~village, "counted_households"] == t.loc[~village, "households"]).all()  # planned
    registered = today.with_policy(load_policy("village_registered_households"))
    r = tallies_of(registered)
    assert (r.loc[village, "counted_households"] == r.loc[village, "households"]).all()
    # base pay on the grid's count: a village grid of 60 houses holding 85 households earns 120, not 170 yuan
    frame = pd.DataFrame({"counted_households": [60], "resident_households": [50]})
    assert base_pay_month(basis_households(frame, load_policy()), load_policy())[0] == pytest.approx(120.0)


def test_priced_months_start_with_the_new_rules(policy):
    periods = pd.period_range("2024-01", periods=14, freq="M")
    assert list(priced_months(periods, policy)) == [False] + [True] * 13  # from 2024-02 (assumption)
    after = policy.with_overrides({"timing.new_rules_start": "2024-03"})
    assert list(priced_months(periods, after))[:3] == [False, False, True]


def test_observed_cases_cover_the_register(today):
    from gridsim.registers import read_cases

    cases = read_cases()
    t = tallies_of(today)
    periods = pd.period_range("2024-01", periods=12, freq="M")
    obs = observed_cases(cases, t.index, periods)
    assert obs["n"].sum() == len(cases)
    assert obs["on_time"].sum() == cases["on_time"].sum()
    assert obs["quality_sum"].sum() == pytest.approx(cases["quality"].sum())
    assert observed_cases(cases, t.index, pd.period_range("2025-01", periods=12, freq="M")) is None
    with pytest.raises(InputError):
        observed_cases(cases, t.index[:10], periods)


def test_publicity_rewards(policy):
    rng = np.random.default_rng(1)
    r = publicity_rewards(19, 12, np.full(4000, 0.5), policy, rng)
    assert r.shape == (4000, 12, 19)
    assert set(np.unique(r)) <= {0.0, 500.0, 1000.0}  # 2 posts, 500 yuan each if adopted (三(七))
    assert r.mean() == pytest.approx(2 * 0.5 * 500, rel=0.02)
    again = publicity_rewards(19, 12, np.full(4000, 0.5), policy, np.random.default_rng(1))
    assert np.array_equal(r, again)


def test_publicity_per_unit_or_for_the_subdistrict(policy):
    # "每月2条" does not say per village: the two readings differ by the number of units
    whole = policy.with_overrides({"publicity.posts_scope": "subdistrict"})
    r = publicity_rewards(19, 12, np.full(4000, 0.5), whole, np.random.default_rng(2))
    assert r.shape == (4000, 12, 19)
    assert r.sum(axis=2).mean() == pytest.approx(2 * 0.5 * 500, rel=0.03)  # 500 yuan a month in all
    assert np.allclose(r, r[:, :, :1])  # shown spread evenly over the units


def test_training_sessions_twice_a_year(policy):
    periods = pd.period_range("2024-01", periods=24, freq="M")
    s = training_sessions(periods, policy)
    assert s.sum() == 2 * policy["training.sessions_per_year"]
    assert list(periods.month[s > 0]) == [4, 10, 4, 10]  # at least once per half year (三(三))


def test_training_never_below_the_plans_minimum(policy):
    periods = pd.period_range("2024-01", periods=12, freq="M")
    once = policy.with_overrides({"training.sessions_per_year": 1})  # one session: July, none in Jan-Jun
    s = training_sessions(periods, once)
    assert s[:6].sum() == 1 and s[6:].sum() == 1  # the first half year is topped up to the minimum
    stricter = policy.with_overrides({"training.min_sessions_per_half_year": 2})
    s = training_sessions(periods, stricter)
    assert s[:6].sum() == 2 and s[6:].sum() == 2


def test_visit_workload_and_overload(policy):
    t = pd.DataFrame({"unit_id": ["u", "u"], "unit_type": ["village"] * 2, "homes": [1, 1],
                      "households": [120, 700], "resident_households": [100, 600], "key_households": [10, 60]},
                     index=pd.Index(["a", "b"], name="grid_id"))
    w = visit_workload(t, policy)
    assert list(w["key_visits_month"]) == [10, 60]  # 五必访 monthly
    assert list(w["general_visits_month"]) == [30, 180]  # others quarterly, on resident households
    assert w.loc["a", "overload_share"] == 0.0
    assert w.loc["b", "overload_share"] == pytest.approx((240 - 120) / 240)
    half = visit_workload(t, policy.with_overrides({"visits.worker_share": 0.5}))  # 网格长 carries half
    assert list(half["visits_due_month"]) == [40, 240]  # the grid's due visits are unchanged
    assert list(half["worker_visits_month"]) == [20, 120]
    assert half.loc["b", "overload_share"] == 0.0
    p = miss_probability(0.03, w["overload_share"].to_numpy(), policy)
    assert p[0] == pytest.approx(0.03) and p[1] == pytest.approx(0.53)
    assert miss_probability(0.5, 0.9, policy) == 1.0


def test_performance_pool_shares_a_fixed_sum():
    pol = load_policy("performance_pool")
    n = np.array([[10, 30, 0], [5, 5, 5]])
    on, q = n.copy(), n * 100.0
    pay = performance_pay(n, on, q, pol, pool=np.array([[400.0], [900.0]]))
    assert np.allclose(pay, [[100.0, 300.0, 0.0], [300.0, 300.0, 300.0]])  # in proportion to merit
    capped = performance_pay(n, on, q, pol, pool=4000.0)
    assert np.allclose(capped[0], [600.0, 600.0, 0.0])  # at most 600 a grid a quarter
    late = performance_pay(np.array([10, 10]), np.array([10, 5]), np.array([1000.0, 1000.0]), pol, pool=300.0)
    assert late[0] == pytest.approx(200.0) and late[1] == pytest.approx(100.0)


def test_key_households_fallback_share(policy):
    from gridsim.visits import key_households

    t = pd.DataFrame({"households": [200, 50], "resident_households": [100, 50], "key_households": [0, 0]},
                     index=["a", "b"])
    share = policy["visits.key_household_share"]
    assert list(key_households(t, policy)) == [round(100 * share), round(50 * share)]
    t["key_households"] = [3, 0]
    assert list(key_households(t, policy)) == [3, 0]  # a register that lists some is taken as it is


def test_deduction_at_another_price_per_point_and_on_arrays(policy):
    """At 2 % a point 5 points cost a tenth; a scalar gives a float, an array an array of the same shape."""
    dear = policy.with_overrides({"assessment.deduction_pct_per_point": 2.0})
    assert pay_after_deduction(400.0, 5, dear) == pytest.approx(360.0)
    one = pay_after_deduction(400, 5, policy)
    assert type(one) is float and one == pytest.approx(380.0)
    many = pay_after_deduction(np.array([[400, 200], [600, 0]]), np.array([[5, 10], [0, 3]]), policy)
    assert many.shape == (2, 2) and np.allclose(many, [[380.0, 180.0], [600.0, 0.0]])


def test_training_more_often_than_monthly_counts_every_session(policy):
    periods = pd.period_range("2024-01", periods=12, freq="M")
    s = training_sessions(periods, policy.with_overrides({"training.sessions_per_year": 24}))
    assert list(s) == [2] * 12 and s.dtype.kind == "i"


def test_a_quarter_without_cases_pays_nothing_and_warns_nothing(policy):
    """0 cases: no merit, no pay, and no numpy division warning in a leader's notebook."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pay = performance_pay(np.array([0, 10]), np.array([0, 9]), np.array([0.0, 850.0]), policy)
    assert np.allclose(pay, [0.0, 10 * 8.0 * 0.9 * 0.85])


def test_training_months_for_other_counts_and_the_top_up_month(policy):
    """Sessions sit in the middle of equal shares of the year (5 a year: Feb, Apr, Jul, Sep, Nov); a short
    half year is topped up in its middle month, April or October."""
    periods = pd.period_range("2024-01", periods=12, freq="M")
    five = training_sessions(periods, policy.with_overrides({"training.sessions_per_year": 5}))
    assert list(periods.month[five > 0]) == [2, 4, 7, 9, 11]
    once = training_sessions(periods, policy.with_overrides({"training.sessions_per_year": 1}))
    assert list(once) == [0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]  # July, and April to top up the first half
    two = training_sessions(periods, policy.with_overrides({"training.min_sessions_per_half_year": 2}))
    assert list(two) == [0, 0, 0, 2, 0, 0, 0, 0, 0, 2, 0, 0]


def test_pool_from_the_policy_for_one_grid_or_none_with_cases():
    """The pool method without drawn pools shares the policy's quarterly pool; one grid gets all of it (up to
    the cap) even when its merit is below one case; a quarter of no cases pays 0, silently."""
    import warnings

    pol = load_policy("performance_pool").with_overrides({"pay.performance.pool_yuan_quarter": 900.0})
    n = np.array([10, 20, 0])
    pay = performance_pay(n, n, n * 100.0, pol)
    assert np.allclose(pay, [300.0, 600.0, 0.0])
    assert performance_pay(1, 1, 50.0, pol) == pytest.approx(600.0)  # merit 0.5 alone: the pool, capped at 600
    small = pol.with_overrides({"pay.performance.pool_yuan_quarter": 400.0})
    assert performance_pay(np.array([1, 1]), np.array([1, 0]), np.array([50.0, 0.0]), small) == pytest.approx([400.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        none = performance_pay(np.zeros(3, int), np.zeros(3, int), np.zeros(3), pol)
    assert list(none) == [0.0, 0.0, 0.0]


def test_quality_weight_is_a_power(policy):
    """merit = cases × (on-time share × mean quality / 100) ** quality_weight: at weight 2, 10 cases of
    0.9 × 0.85 earn 10 × 8 × 0.765²."""
    squared = policy.with_overrides({"pay.performance.quality_weight": 2.0})
    assert performance_pay(10, 9, 850.0, squared) == pytest.approx(10 * 8.0 * (0.9 * 0.85) ** 2)


def test_drawn_prices_per_case_broadcast_and_a_scalar_is_a_float(policy):
    one = performance_pay(10, 9, 850.0, policy)
    assert type(one) is float
    drawn = performance_pay(np.array([10, 20]), np.array([9, 18]), np.array([850.0, 1700.0]), policy,
                            yuan_per_case=np.array([[4.0], [12.0]]))
    assert drawn.shape == (2, 2)
    assert np.allclose(drawn, [[10 * 4.0 * 0.765, 20 * 4.0 * 0.765], [10 * 12.0 * 0.765, 20 * 12.0 * 0.765]])


def test_base_pay_per_full_100_at_each_hundred_and_scalars_are_floats(policy):
    pol = load_policy("pay_per_full_100")
    assert [base_pay_month(h, pol) for h in (100, 199, 200, 299, 300)] == [200.0, 200.0, 400.0, 400.0, 600.0]
    assert type(base_pay_month(180, policy)) is float


def test_pay_basis_is_named_and_follows_the_reading():
    frame = pd.DataFrame({"counted_households": [60, 300], "resident_households": [50, 280]}, index=["g1", "g2"])
    grid_count = basis_households(frame, load_policy())
    assert grid_count.name == "basis_households" and list(grid_count) == [60, 300]
    resident = basis_households(frame, load_policy("pay_on_resident"))
    assert resident.name == "basis_households" and list(resident) == [50, 280] and list(resident.index) == ["g1", "g2"]


def test_anything_but_a_plan_or_its_tallies_is_refused_by_message(homes):
    with pytest.raises(GridsimError) as err:
        tallies_of(homes["current_grid_id"])
    assert str(err.value) == "需要网格方案 Plan 或其 tallies() 表 (expected a gridsim.plan.Plan or its tallies frame)"
