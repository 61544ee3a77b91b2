"""Rules of 三(一)3, 三(三), 三(七) as the plan words them, and the per-grid tallies of a plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.errors import InputError
from gridsim.pay import (base_pay_month, grid_tallies, observed_cases, pay_after_deduction, performance_pay,
                         publicity_rewards, training_sessions)
from gridsim.policy import load_policy
from gridsim.visits import miss_probability, visit_workload


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def homes():
    from gridsim.registers import read_homes

    return read_homes()


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


def test_tallies_conserve_households_and_homes(homes):
    t = grid_tallies(homes)
    assert len(t) == homes["current_grid_id"].nunique()
    for col in ("households", "resident_households", "key_households"):
        assert int(t[col].sum()) == int(homes[col].sum())
    assert int(t["homes"].sum()) == len(homes)
    assert (t.groupby("unit_id").size() > 0).all()


def test_tallies_of_a_plan(homes):
    plan = homes["unit_id"] + "-all"  # one grid per unit
    t = grid_tallies(homes, plan)
    assert len(t) == homes["unit_id"].nunique()
    assert int(t["households"].sum()) == int(homes["households"].sum())


def test_grid_across_units_is_rejected(homes):
    plan = homes["current_grid_id"].copy()
    first_other = homes.index[homes["unit_id"] != homes["unit_id"].iat[0]][0]
    plan.loc[first_other] = plan.iat[0]
    with pytest.raises(InputError) as err:
        grid_tallies(homes, plan)
    assert "跨越" in str(err.value) and plan.iat[0] in str(err.value)


def test_home_without_grid_is_rejected(homes):
    plan = homes["current_grid_id"].copy()
    plan.iloc[5] = None
    with pytest.raises(InputError) as err:
        grid_tallies(homes, plan)
    assert "row=6" in str(err.value)


def test_observed_cases_cover_the_register(homes):
    from gridsim.registers import read_cases

    cases = read_cases()
    t = grid_tallies(homes)
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


def test_training_sessions_twice_a_year(policy):
    periods = pd.period_range("2024-01", periods=24, freq="M")
    s = training_sessions(periods, policy)
    assert s.sum() == 2 * policy["training.sessions_per_year"]
    assert list(periods.month[s > 0]) == [4, 10, 4, 10]  # at least once per half year (三(三))


def test_visit_workload_and_overload(policy):
    t = pd.DataFrame({"unit_id": ["u", "u"], "unit_type": ["village"] * 2, "homes": [1, 1],
                      "households": [120, 700], "resident_households": [100, 600], "key_households": [10, 60]},
                     index=pd.Index(["a", "b"], name="grid_id"))
    w = visit_workload(t, policy)
    assert list(w["key_visits_month"]) == [10, 60]  # 五必访 monthly
    assert list(w["general_visits_month"]) == [30, 180]  # others quarterly, on resident households
    assert w.loc["a", "overload_share"] == 0.0
    assert w.loc["b", "overload_share"] == pytest.approx((240 - 120) / 240)
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
