"""A policy value that changes nothing is a defect: every rule and assumption, changed, changes some output.

For each parameter the test moves its value (flips a bool, takes another option, or moves a number inside
its valid interval) and compares a fingerprint of what the software produces — the rule violations of a
plan, the optimizer's bounds, the hours a month of today's grids, the money and assessment of a year under ordinary and under stressed
workers, the visits of a register without 五必访 households, and the validation of a cases register — with
the baseline's. A parameter is wired in when its fingerprint differs (an input that a changed rule now
refuses counts as a difference).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.assessment import simulate_assessment
from gridsim.budget import simulate_budget
from gridsim.errors import GridsimError
from gridsim.graph import build_graph
from gridsim.partition import lower_bounds
from gridsim.plan import Plan
from gridsim.policy import load_baseline
from gridsim.registers import read_cases, read_homes, read_layer
from gridsim.workload import workload

UNITS = ("huayuan", "synth_c2")  # one village, one community: small and quick
STRESS = {"assessment.other_points_mean": 60.0}  # failing workers: escalation, vacancies, the floor at zero

#: moves chosen by hand where a generic move could not reach the output (a cap far above any grid's value)
MOVES = {
    "pay.performance.cap_yuan_quarter": 30.0,
    "assessment.rubric.max_case_points": 1.0,
    "assessment.rubric.max_visit_points": 1.0,
    "assessment.start": "2024-03",
    "funding.sources": ("district", "subdistrict", "city"),
    "escalation.levels": ("grid", "unit"),
    "assessment.criticism_unqualified_months": 1,
    "assessment.termination_unqualified_months": 2,
    "workload.circuity": 1.4,  # halving would leave the valid interval [1, 3]
}
#: what else must hold for a parameter to matter at all (e.g. the pool only exists under the pool method)
CONTEXT = {
    "pay.performance.pool_yuan_quarter": {"pay.performance.method": "pool"},
    "assessment.miss_rate_overload_elasticity": {"visits.capacity_per_worker_month": 10},
    "workload.ceiling_applies": {"workload.ceiling_hours_month": 20.0},  # a ceiling that raises the bounds
}


def moved(p):
    if p.key in MOVES:
        return MOVES[p.key]
    v = p.value
    if isinstance(v, bool):
        return not v
    if p.options is not None:
        return next(o for o in p.options if o != v)
    lo, hi = p.valid if p.valid is not None else (0, float("inf"))
    if isinstance(v, int):  # halve a count or a limit (a move of one would rarely cross a grid's value)
        if v >= 10:
            return max(int(lo), v // 2)
        return v + 1 if v + 1 <= hi else v - 1
    if isinstance(v, float):
        return v * 0.5 if v > 0 else min(hi, 0.1)
    raise AssertionError(f"no move for {p.key}={v!r}")


@pytest.fixture(scope="module")
def setting():
    homes = read_homes()
    homes = homes[homes["unit_id"].isin(UNITS)].reset_index(drop=True)
    homes.attrs["source"] = "subset"
    graph = build_graph(homes, read_layer("barriers"))
    assignment = homes["current_grid_id"].to_numpy(dtype=object).copy()
    village = np.flatnonzero(homes["unit_type"].to_numpy() == "village")
    community = np.flatnonzero(homes["unit_type"].to_numpy() == "community")
    assignment[village[0]] = assignment[community[0]]  # a grid across two units
    far = village[np.argmax(homes["x"].to_numpy()[village])]
    assignment[far] = assignment[village[0]]  # ... and not in one piece
    cases = read_cases()
    return homes, graph, assignment, cases


def fingerprint(policy, setting):
    homes, graph, assignment, cases = setting
    out = []
    try:
        crafted = Plan(homes, graph, assignment, policy)
        out.append(crafted.violations_frame()[["rule", "grid_id", "value", "limit"]].to_csv())
        out.append(lower_bounds(homes, graph, policy=policy)[["lower_bound", "upper_bound", "feasible"]].to_csv())
        today = Plan.from_column(homes, graph, policy=policy)
        out.append(workload(today, policy)[["hours_month", "over_ceiling"]].round(9).to_csv())
        for extra in ({}, STRESS):
            pol = policy.with_overrides(extra) if extra else policy
            r = simulate_budget(today, pol, draws=40, seed=1, years=2, uncertain=False)
            out.append(r.summary[["item", "mean"]].round(6).to_csv())
            out.append(r.grids[["visits_due_month", "p_unqualified_month", "p_criticism", "p_termination",
                                "expected_deduction_points_month", "expected_vacant_months_year"]].round(9).to_csv())
        zero_key = today.tallies().assign(key_households=0)
        a = simulate_assessment(zero_key, policy, draws=20, seed=1, uncertain=False)
        out.append(a.grids[["visits_due_month", "expected_deduction_points_month"]].round(9).to_csv())
        out.append(str(len(read_cases(cases.attrs["source"], policy=policy))))
    except GridsimError as exc:
        out.append(f"refused: {type(exc).__name__}")
    return out


def test_every_parameter_changes_an_output(setting):
    base = load_baseline()
    reference = fingerprint(base, setting)
    inert = []
    for key in base.keys():
        p = base.param(key)
        context = CONTEXT.get(key, {})
        before = fingerprint(base.with_overrides(context), setting) if context else reference
        after = fingerprint(base.with_overrides({**context, key: moved(p)}), setting)
        if after == before:
            inert.append(key)
    assert inert == [], f"parameters that change nothing: {inert}"


def test_the_moves_are_real_changes():
    base = load_baseline()
    for key in base.keys():
        p = base.param(key)
        assert moved(p) != p.value, key
        base.with_overrides({**CONTEXT.get(key, {}), key: moved(p)})  # every move is a valid value


def test_draws_switched_off_give_the_formula_for_each_line():
    """With nothing drawn and no deduction, each cost line's mean is the plan's formula at the stated values."""
    homes = read_homes()
    homes = homes[homes["unit_id"].isin(UNITS)].reset_index(drop=True)
    plan = Plan.from_column(homes, build_graph(homes, read_layer("barriers")))
    quiet = {"assessment.miss_rate_base": 0.0, "assessment.other_points_mean": 0.0, "cases.on_time_rate": 1.0,
             "assessment.training_absence_rate": 0.0, "pay.performance.cap_yuan_quarter": 1e9}
    policy = load_baseline().with_overrides(quiet)
    draws = 2000
    r = simulate_budget(plan, policy, draws=draws, seed=3, uncertain=False)
    s = r.summary.set_index("item")
    t = plan.tallies()
    months = 11  # February to December (timing.new_rules_start)
    base = np.minimum(2.0 * t["counted_households"], 600.0).sum() * months
    assert s.loc["line:base_pay", "mean"] == pytest.approx(base)
    # cases: Poisson(1.6 per 100 resident households a month), all on time, quality 85: 8 yuan x 0.85 each
    lam = 0.016 * t["resident_households"].sum() * months
    per_case = 8.0 * 1.0 * 0.85
    se = np.sqrt(lam) * per_case / np.sqrt(draws)
    assert s.loc["line:performance_pay", "mean"] == pytest.approx(lam * per_case, abs=4 * se)
    units = t["unit_id"].nunique()
    posts = units * months * 2
    se = np.sqrt(posts * 0.25) * 500 / np.sqrt(draws)
    assert s.loc["line:publicity", "mean"] == pytest.approx(posts * 0.5 * 500, abs=4 * se)
    assert s.loc["line:training", "mean"] == pytest.approx(2 * len(t) * 2 * 60.0)
    assert pd.Series(r.costs.sum(axis=(1, 2, 3))).std() > 0  # it is a simulation, not a formula
