"""Sensitivity analysis and sweeps (issue 12): SALib through our execution path on a function with known
indices, the same numbers on one process and on a real Dask cluster, knob sweeps that change the grid
count, break-even by root finding, and bad input refused before any run."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from gridsim.cli import main
from gridsim.errors import GridsimError
from gridsim.partition import partition
from gridsim.partition.instances import register, village
from gridsim.policy import load_policy
from gridsim.sensitivity import (Ishigami, break_even, check_samples, crossings, knob, knob_sweep, morris,
                                 parse_knob, sobol, tornado)
from gridsim.budget import simulate_budget
from gridsim.sweep import BudgetRun, SweepResult, dask_client, outputs_of, ranged_factors, ranged_keys, write_sweep

ISHIGAMI_S1 = (0.314, 0.442, 0.0)
ISHIGAMI_ST = (0.558, 0.442, 0.244)
FACTORS = ("pay.performance.yuan_per_case", "training.cost_yuan_per_participant", "funding.district_share",
           "visits.capacity_per_worker_month", "assessment.vacancy_months_after_termination")


@pytest.fixture(scope="module")
def cluster():
    """A real local Dask cluster: 2 worker processes (spawned, so the models travel by pickle)."""
    with dask_client(workers=2, processes=True) as client:
        yield client


@pytest.fixture(scope="module")
def small():
    """A small generated register (one village, one community, odd shapes) and its optimized plan."""
    homes = register(11, villages=1, communities=1)
    policy = load_policy()
    return homes, policy, partition(homes, policy=policy, seed=0, workers=1).plan


# ---------------------------------------------------------------------------------------------------
# SALib on a function with known indices, through the same path as the budget


def test_sobol_recovers_the_ishigami_indices():
    result = sobol(Ishigami(), Ishigami.factors(), 4096, seed=2, progress=False)
    t = result.table.set_index("key")
    assert result.meta["runs"] == 4096 * 5  # N·(k+2), Saltelli's scheme without second order
    for key, s1, st in zip(("x1", "x2", "x3"), ISHIGAMI_S1, ISHIGAMI_ST):
        assert t.at[key, "S1"] == pytest.approx(s1, abs=0.03)
        assert t.at[key, "ST"] == pytest.approx(st, abs=0.03)
        assert 0 < t.at[key, "ST_conf"] < 0.05  # a bootstrap interval, and a tight one at this N
    assert t.at["x3", "ST"] > t.at["x3", "S1"] + 0.2  # x3 acts only through its interaction with x1


def test_morris_ranks_ishigami_inputs():
    result = morris(Ishigami(), Ishigami.factors(), 50, seed=1, progress=False)
    t = result.table.set_index("key")
    assert result.meta["runs"] == 50 * 4
    # 4 levels on [-π, π]: x2 jumps between -π and π/3 or -π/3 and π, so a sin² x2 changes by ±7·¾ over a
    # step of ⅔ of the range: every elementary effect of x2 is ±7.875; they cancel in μ, not in μ*
    assert t.at["x2", "mu_star"] == pytest.approx(7 * 0.75 / (2 / 3))
    assert t.at["x2", "mu_star_conf"] == pytest.approx(0.0, abs=1e-9)
    assert abs(t.at["x2", "mu"]) < t.at["x2", "mu_star"]
    assert (t["mu_star_conf"] >= 0).all() and (t["sigma"] > 0).all()


def test_ishigami_on_the_cluster_equals_one_process(cluster):
    here = sobol(Ishigami(), Ishigami.factors(), 256, progress=False)  # seed 0: the bootstrap is seeded too
    there = sobol(Ishigami(), Ishigami.factors(), 256, client=cluster, progress=False)
    assert there.meta["workers"] == 2
    pd.testing.assert_frame_equal(here.table, there.table)
    pd.testing.assert_frame_equal(here.runs, there.runs)


# ---------------------------------------------------------------------------------------------------
# Budget runs: one process against 2 workers; common random numbers


def test_tornado_same_on_one_process_and_two_workers(small, cluster):
    homes, policy, plan = small
    factors = ranged_factors(policy, FACTORS)
    model = BudgetRun({"plan": plan}, policy, draws=150, seed=4)
    here = tornado(model, factors, progress=False)
    there = tornado(model, factors, client=cluster, progress=False)
    pd.testing.assert_frame_equal(here.table, there.table)
    pd.testing.assert_frame_equal(here.runs, there.runs)
    # a run is simulate_budget on the plan itself, also where the model reuses the plan's checked tallies
    direct = outputs_of(simulate_budget(plan, policy.with_overrides({"pay.performance.yuan_per_case": 12.0}), 150, 4,
                                        uncertain=False, workers=1))
    row = here.runs[here.runs["pay.performance.yuan_per_case"] == 12.0].iloc[0]
    assert {k: row[k] for k in direct} == direct
    t = here.table.set_index(["output", "key"])
    # the funding split moves money between funders, never the total (same seed, same replicates)
    assert t.at[("total_p50", "funding.district_share"), "swing"] == 0
    assert t.at[("subdistrict_p50", "funding.district_share"), "at_low"] > \
        t.at[("subdistrict_p50", "funding.district_share"), "at_high"]
    # training cost is drawn after the assessment: the unqualified rate cannot move with it
    assert t.at[("unqualified", "training.cost_yuan_per_participant"), "swing"] == 0
    assert t.at[("total_p50", "pay.performance.yuan_per_case"), "at_high"] > \
        t.at[("total_p50", "pay.performance.yuan_per_case"), "at_low"]
    # fewer visits a worker can make -> more missed visits -> more unqualified months
    assert t.at[("unqualified", "visits.capacity_per_worker_month"), "at_low"] > \
        t.at[("unqualified", "visits.capacity_per_worker_month"), "at_high"]
    assert (here.runs.loc[0, ["total_p50"]] == t.xs("total_p50")["base"].iloc[0]).all()
    assert set(here.runs["assessment.vacancy_months_after_termination"].dropna()) == {1.0, 3.0}  # integer ends


def test_budget_sobol_with_constant_output(small):
    homes, policy, plan = small
    factors = ranged_factors(policy, ["funding.district_share", "training.cost_yuan_per_participant"])
    result = sobol(BudgetRun({"plan": plan}, policy, draws=20, seed=0), factors, 8, progress=False,
                   num_resamples=50)
    t = result.table
    unq = t[t["output"] == "unqualified"]
    assert unq["constant"].all() and unq["S1"].isna().all()  # no variance to share out, said so
    dist = t[(t["output"] == "district_p50")].set_index("key")
    assert dist.at["funding.district_share", "ST"] > dist.at["training.cost_yuan_per_participant", "ST"]


# ---------------------------------------------------------------------------------------------------
# Knob sweeps


def test_knob_sweep_crosses_grid_count_changes():
    homes = village(np.random.default_rng(3), "tv1", 5)  # 360 houses, 502 households
    homes["key_households"] = 0
    policy = load_policy()
    cap = knob(policy, "grid.village.max_households", [150, 300, 450])
    pay = knob(policy, "pay.base.yuan_per_100_households_month", [150, 250])
    result = knob_sweep(homes, None, policy, [cap, pay], draws=40, seed=1, progress=False)
    t = result.table
    assert result.meta["partitions"] == 3  # one optimizer run per distinct grid rule, not per point
    by_cap = t.groupby("grid.village.max_households")["grids"].first()
    assert by_cap.to_dict() == {150: 3, 300: 2, 450: 1}  # ceil(360 houses / ceiling): the lower bound, met
    assert (t["violations"] == 0).all()
    # more pay per 100 households costs more at every ceiling, and the funder split adds up
    wide = t.pivot(index="grid.village.max_households", columns="pay.base.yuan_per_100_households_month",
                   values="total_p50")
    assert (wide[250] > wide[150]).all()
    assert (t["total_p5"] <= t["total_p50"]).all() and (t["total_p50"] <= t["total_p95"]).all()


def _village_and_cap_knob(seed):
    """A small generated village without 五必访 households and a village-ceiling knob whose two values give
    different grids."""
    homes = village(np.random.default_rng(seed), "tv1", 5)
    homes["key_households"] = 0
    policy = load_policy()
    return homes, policy, knob(policy, "grid.village.max_households", [150, 450])


def test_knob_sweep_reads_and_fills_a_plan_cache(tmp_path):
    """With a plan cache a knob's re-partitions are stored, and a second sweep reads them: same table."""
    from gridsim.scenario_plan import stored_key

    homes, policy, cap = _village_and_cap_knob(4)
    plain = knob_sweep(homes, None, policy, [cap], draws=30, seed=2, progress=False)
    first = knob_sweep(homes, None, policy, [cap], draws=30, seed=2, progress=False, plan_cache=str(tmp_path))
    stored = sorted(p for p in tmp_path.iterdir() if stored_key(p))
    assert len(stored) == 2  # one plan per distinct grid rule
    stamps = [(p / "plan.json").stat().st_mtime_ns for p in stored]
    again = knob_sweep(homes, None, policy, [cap], draws=30, seed=2, progress=False, plan_cache=str(tmp_path))
    assert [(p / "plan.json").stat().st_mtime_ns for p in stored] == stamps  # read, not made again
    cols = [c for c in plain.table.columns if c != "hit_time_limit"]
    pd.testing.assert_frame_equal(first.table[cols], plain.table[cols])
    pd.testing.assert_frame_equal(again.table[cols], plain.table[cols])


def test_knob_sweep_on_cluster_equals_one_process(cluster):
    homes, policy, cap = _village_and_cap_knob(3)
    here = knob_sweep(homes, None, policy, [cap], draws=30, seed=2, progress=False)
    there = knob_sweep(homes, None, policy, [cap], draws=30, seed=2, client=cluster, progress=False)
    pd.testing.assert_frame_equal(here.table, there.table)


def test_parse_knob_forms_and_errors():
    policy = load_policy()
    k = parse_knob(policy, "grid.community.max_planned_households=400:500:11")
    assert k.values == tuple(range(400, 501, 10)) and k.changes_grids
    assert parse_knob(policy, "funding.district_share=0.3:0.7:5").values == (0.3, 0.4, 0.5, 0.6, 0.7)
    assert parse_knob(policy, "grid.village.count_basis=houses,registered_households").values == ("houses", "registered_households")
    for bad, words in (("nope.key=1:2", "未知参数"), ("funding.district_share=0.7:0.3", "区间为空"),
                       ("funding.district_share=0.5:1.5:3", "must lie in"), ("grid.village.count_basis=houses,flats", "must be one of"),
                       ("funding.district_share", "KEY=")):
        with pytest.raises(GridsimError, match=words):
            parse_knob(policy, bad)
    floor = knob(policy, "grid.village.min_households", [100, 350])  # 350 is above the 300 ceiling
    with pytest.raises(GridsimError, match="floor may not exceed"):
        knob_sweep(pd.DataFrame(), None, policy, [floor], draws=10, progress=False)


# ---------------------------------------------------------------------------------------------------
# Break-even


def test_break_even_root_and_band():
    x = np.array([0.3, 0.4, 0.5, 0.6, 0.7])
    table = pd.DataFrame({"k": x, "subdistrict_p50": 1000 - 1000 * x, "subdistrict_p5": 950 - 1000 * x,
                          "subdistrict_p95": 1050 - 1000 * x})
    row = break_even(table, "k", "subdistrict", 480.0).iloc[0]
    assert row["value"] == pytest.approx(0.52, abs=1e-9)
    assert row["band_low"] == pytest.approx(0.47, abs=1e-9) and row["band_high"] == pytest.approx(0.57, abs=1e-9)
    assert row["note"] == ""
    out = break_even(table, "k", "subdistrict", 200.0).iloc[0]  # never that low within 0.3–0.7
    assert math.isnan(out["value"]) and "未达到" in out["note"]
    up, down = crossings(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 0.0]), 1.0)  # a peak: crossed twice
    assert 0 < up < 1 < down < 2 and up + down == pytest.approx(2.0)  # symmetric data, symmetric roots
    with pytest.raises(GridsimError, match="not numeric"):
        break_even(pd.DataFrame({"k": ["a", "b"], "grids": [1, 2]}), "k", "grids", 1.5)


def test_break_even_per_value_of_a_second_knob():
    x = np.array([0.3, 0.5, 0.7])
    rows = []
    for pay in (150, 250):  # a higher pay level shifts the curve up: the line is reached at a higher share
        for share in x:
            mid = pay * 4 - 1000 * share
            rows.append({"share": share, "pay": pay, "subdistrict_p5": mid - 20, "subdistrict_p50": mid,
                         "subdistrict_p95": mid + 20})
    out = break_even(pd.DataFrame(rows), "share", "subdistrict", 300.0, by="pay").set_index("by_value")
    assert out.loc[150, "value"] == pytest.approx(0.3) and out.loc[250, "value"] == pytest.approx(0.7)
    assert "区间一端" in out.loc[150, "note"]  # at pay 150 the P5 curve stays below the line: one end open


def test_check_samples():
    check_samples("sobol", 512)
    for n in (0, 3, 100, 511):
        with pytest.raises(GridsimError, match="power of 2"):
            check_samples("sobol", n)
    with pytest.raises(GridsimError, match="at least 2"):
        check_samples("morris", 1)


def test_ranged_factors_default_and_refusals():
    policy = load_policy()
    keys = ranged_keys(policy)
    assert "funding.district_share" in keys and "cases.on_time_rate" in keys
    assert all(policy.param(k).range is not None for k in keys)
    assert all(k in keys for k in policy.keys() if policy.param(k).drawn)  # every drawn unknown is a factor
    f = {x.key: x for x in ranged_factors(policy)}
    assert f["assessment.vacancy_months_after_termination"].integer
    for keys_, ranges, words in ((["nope"], None, "未知参数"), (["cases.basis"], None, "不是数值"),
                                 (["pay.base.cap_yuan_month"], None, "没有区间"),
                                 (None, {"cases.on_time_rate": (0.9, 0.9)}, "区间为空"),
                                 (None, {"cases.on_time_rate": (0.5, 1.2)}, "must lie in")):
        with pytest.raises(GridsimError, match=words):
            ranged_factors(policy, keys_, ranges)


# ---------------------------------------------------------------------------------------------------
# Files, workbook, command line


def _tiny_result() -> SweepResult:
    table = pd.DataFrame({"output": ["total_p50"], "output_label": ["合计"], "key": ["a"], "label": ["甲"],
                          "low": [1.0], "high": [2.0], "baseline": [1.5], "base": [10.0], "at_low": [9.0],
                          "at_high": [12.0], "swing": [3.0]})
    return SweepResult("tornado", table, pd.DataFrame({"run": [0]}), {"scenario": "baseline", "runs": 3})


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    import gridsim.workbook as workbook

    out = tmp_path / "new" / "sweep"

    def broken(result, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(workbook, "write_sensitivity_workbook", broken)
    with pytest.raises(KeyboardInterrupt):
        write_sweep(_tiny_result(), out)
    assert not (tmp_path / "new").exists()


def test_sensitivity_sheet_in_budget_workbook(tmp_path, small):
    from openpyxl import load_workbook

    from gridsim.workbook import write_budget

    homes, policy, plan = small
    result = simulate_budget(plan, policy, 20, 0)
    write_budget(result, tmp_path, policy, sensitivity=_tiny_result())
    wb = load_workbook(tmp_path / "budget.xlsx", read_only=True)
    assert wb.sheetnames[-1] == "敏感性" and "汇总" in wb.sheetnames
    rows = list(wb["敏感性"].iter_rows(values_only=True))
    assert "单因素" in rows[0][0] and "摆幅 swing |高−低|" in rows[1] and 3.0 in rows[2]


def _csv(tmp_path, homes) -> str:
    path = tmp_path / "homes.csv"
    homes.to_csv(path, index=False)
    return str(path)


def test_cli_tornado_end_to_end(tmp_path, small, capsys):
    homes, _, _ = small
    out = tmp_path / "out"
    code = main(["sweep", "tornado", "--homes", _csv(tmp_path, homes), "--crs", "EPSG:4548", "--params",
                 "funding.district_share,pay.performance.yuan_per_case", "--range", "funding.district_share=0.2:0.8",
                 "--draws", "30", "--workers", "1", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "sweep.csv")
    assert set(table["key"]) == {"funding.district_share", "pay.performance.yuan_per_case"}
    assert table.loc[table["key"] == "funding.district_share", "low"].iloc[0] == 0.2
    assert len(pd.read_csv(out / "runs.csv")) == 5 and (out / "sensitivity.xlsx").exists()
    assert "年度经费合计 P50" in capsys.readouterr().out


def test_cli_knob_with_break_even(tmp_path, small, capsys):
    homes, _, _ = small
    out = tmp_path / "out"
    code = main(["sweep", "knob", "--homes", _csv(tmp_path, homes), "--crs", "EPSG:4548", "--knob",
                 "funding.district_share=0.3:0.7:3", "--break-even", "subdistrict=20000", "--draws", "20",
                 "--workers", "1", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "sweep.csv")
    assert list(table["funding.district_share"]) == [0.3, 0.5, 0.7]
    assert table["subdistrict_p50"].is_monotonic_decreasing and table["grids"].nunique() == 1
    be = pd.read_csv(out / "break_even.csv")
    assert len(be) == 1 and be.loc[0, "knob"] == "funding.district_share"
    value = be.loc[0, "value"]
    assert math.isnan(value) or 0.3 <= value <= 0.7
    assert "盈亏平衡" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["tornado", "--params", "no.such.key"], "未知参数"),
    (["tornado", "--range", "cases.on_time_rate=0.9:0.9"], "区间为空"),
    (["tornado", "--range", "cases.on_time_rate=0.5:1.2"], "must lie in"),
    (["sobol", "--samples", "100"], "power of 2"),
    (["knob", "--knob", "funding.district_share=0.3:0.7", "--break-even", "nothing=1"], "OUTPUT=NUMBER"),
    (["knob"], "one or two --knob"),
    (["tornado", "--year", "1999"], "must be between"),
    (["tornado", "--knob", "funding.district_share=0.3:0.7"], "only for the knob mode"),
])
def test_cli_bad_input_exit_2_before_any_run(tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    started = time.monotonic()
    assert main(["sweep", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and "错误" in err
    assert not out.exists()
    assert time.monotonic() - started < 3  # refused before the data is read or a cluster starts


def test_cli_unreachable_scheduler(tmp_path, capsys):
    out = tmp_path / "out"
    started = time.monotonic()
    code = main(["sweep", "tornado", "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)])
    assert code == 2
    assert "无法连接 Dask 调度器" in capsys.readouterr().err
    assert not out.exists() and time.monotonic() - started < 15


def test_cli_help_documents_modes(capsys):
    assert main(["sweep", "--help"]) == 0
    text = capsys.readouterr().out
    for word in ("tornado", "morris", "sobol", "knob", "--break-even", "--scheduler", "2的幂"):
        assert word in text
