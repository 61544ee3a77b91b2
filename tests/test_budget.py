"""Funding need: cost lines add up, funders split them, bands are ordered, and the CLI writes all or nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.budget import LINES, simulate_budget
from gridsim.cli import main
from gridsim.policy import load_policy


@pytest.fixture(scope="module")
def homes():
    from gridsim.registers import read_homes

    return read_homes()


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def result(homes, policy):
    return simulate_budget(homes, None, policy, draws=300, seed=0)


def test_lines_funders_and_total_add_up(result):
    t = result.replicate_totals()
    assert len(t) == 300
    assert np.allclose(t[list(LINES)].sum(axis=1), t["total"])
    assert np.allclose(t["district"] + t["subdistrict"], t["total"])
    s = result.summary.set_index("item")
    assert {"total", "funder:district", "funder:subdistrict", *[f"line:{x}" for x in LINES]} <= set(s.index)
    assert s.loc["total", "mean"] == pytest.approx(sum(s.loc[f"line:{x}", "mean"] for x in LINES))
    units = s[s.index.str.startswith("unit:")]
    assert len(units) == 19 and units["mean"].sum() == pytest.approx(s.loc["total", "mean"])


def test_bands_are_ordered_and_complete(result):
    b = result.bands
    q = b[["p5", "p20", "p35", "p50", "p65", "p80", "p95"]].to_numpy()
    assert (np.diff(q, axis=1) >= -1e-6).all()
    months = result.fan("line", "month")
    assert len(months) == 12 * len(LINES)
    quarters = result.fan("total", "quarter")
    assert list(quarters["period"]) == ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]
    year = result.fan("total", "year")["mean"].iat[0]
    assert quarters["mean"].sum() == pytest.approx(year)
    perf = result.fan("line", "month")
    perf = perf[perf["item"] == "line:performance_pay"]
    assert (perf.loc[~perf["period"].str[-2:].isin(["03", "06", "09", "12"]), "p95"] == 0).all()  # paid quarterly


def test_deterministic_lines(homes, policy):
    r = simulate_budget(homes, None, policy, draws=200, seed=5, uncertain=False)
    s = r.summary.set_index("item")
    grids = homes["current_grid_id"].nunique()
    training = policy["training.sessions_per_year"] * grids * policy["training.participants_per_grid"] \
        * policy["training.cost_yuan_per_participant"]
    assert s.loc["line:training", "p5"] == pytest.approx(training)
    assert s.loc["line:training", "p95"] == pytest.approx(training)
    publicity = 19 * 12 * policy["publicity.posts_per_unit_month"] * policy["publicity.adoption_rate"] \
        * policy["publicity.reward_yuan_per_adopted_post"]
    assert s.loc["line:publicity", "mean"] == pytest.approx(publicity, rel=0.02)
    t = r.replicate_totals()
    pay = t["base_pay"] + t["performance_pay"]
    assert np.allclose(t["district"], policy["funding.district_share"] * pay)  # publicity/training: subdistrict
    full = 12 * r.grids["base_pay_month"].sum()
    assert (t["base_pay"] <= full + 1e-6).all() and (t["base_pay"] > 0.85 * full).all()


def test_scenarios_move_base_pay(homes):
    base = simulate_budget(homes, None, load_policy(), draws=100, seed=0, uncertain=False)
    full100 = simulate_budget(homes, None, load_policy("pay_per_full_100"), draws=100, seed=0, uncertain=False)
    resident = simulate_budget(homes, None, load_policy("pay_on_resident"), draws=100, seed=0, uncertain=False)
    b = base.grids["base_pay_month"].sum()
    assert full100.grids["base_pay_month"].sum() < b
    assert resident.grids["base_pay_month"].sum() < b
    assert (resident.grids["basis_households"] == resident.grids["resident_households"]).all()


def test_a_plan_is_priced_with_simulated_cases(homes, policy):
    from gridsim.registers import read_cases

    plan = homes["current_grid_id"].str.replace(r"-g0[12]$", "-g01", regex=True)  # merge g01 and g02 everywhere
    r = simulate_budget(homes, plan, policy, draws=100, seed=0, cases=read_cases())
    assert r.meta["cases_source"] == "simulated" and r.meta["plan"] == "plan"
    assert len(r.grids) == plan.nunique() < homes["current_grid_id"].nunique()
    assert int(r.grids["households"].sum()) == int(homes["households"].sum())
    today = simulate_budget(homes, homes["current_grid_id"], policy, draws=100, seed=0, cases=read_cases())
    assert today.meta["cases_source"] == "observed" and today.meta["plan"] == "today"


def test_cli_writes_workbook_and_csvs(tmp_path, homes):
    import openpyxl

    out = tmp_path / "out"
    assert main(["budget", "--draws", "100", "--seed", "3", "--scenario", "pay_per_full_100", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["assessment.csv", "budget.xlsx", "grids.csv", "summary.csv"]
    grids = pd.read_csv(out / "grids.csv", encoding="utf-8")
    assert {"grid_id", "unit_id", "households", "resident_households", "base_pay_month"} <= set(grids.columns)
    assert grids["households"].sum() == homes["households"].sum()
    summary = pd.read_csv(out / "summary.csv", encoding="utf-8")
    assert list(summary.columns[:4]) == ["item", "p5", "p50", "p95"] and "total" in set(summary["item"])
    assess = pd.read_csv(out / "assessment.csv", encoding="utf-8")
    assert {"p_unqualified_month", "p_criticism", "p_termination"} <= set(assess.columns)
    wb = openpyxl.load_workbook(out / "budget.xlsx")
    assert "参数" in wb.sheetnames and "汇总" in wb.sheetnames
    params = {r[0].value: r[2].value for r in wb["参数"].iter_rows(min_row=2)}
    assert params["run.seed"] == "3" and params["run.scenario"].startswith("pay_per_full_100")
    assert params["pay.base.rounding"] == "per_full_100"
    ws = wb["汇总"]
    assert ws.freeze_panes == "A2"
    assert isinstance(ws["D2"].value, float) and ws["D2"].number_format == "#,##0"
    assert "元/年" in ws["D1"].value
    widths = wb["网格"].column_dimensions
    assert widths["F"].width >= 20  # 户数（户）households: Chinese characters count double


def test_cli_same_seed_same_output(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["budget", "--draws", "100", "--out", str(a)]) == 0
    assert main(["budget", "--draws", "100", "--out", str(b)]) == 0
    for name in ("summary.csv", "grids.csv", "assessment.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_cli_bad_plan_writes_nothing(tmp_path, homes, capsys):
    plan = pd.DataFrame({"home_id": homes["home_id"], "grid_id": homes["current_grid_id"]})
    bad = plan.iloc[1:]  # one home missing
    path = tmp_path / "plan.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["budget", "--plan", str(path), "--draws", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "home missing from the plan" in err and homes["home_id"].iat[0] in err
    assert not out.exists()
    across = plan.copy()
    other = homes.index[homes["unit_id"] != homes["unit_id"].iat[0]][0]
    across.loc[other, "grid_id"] = across["grid_id"].iat[0]
    across.to_csv(path, index=False)
    assert main(["budget", "--plan", str(path), "--draws", "10", "--out", str(out)]) == 2
    assert "grid spans several units" in capsys.readouterr().err
    assert main(["budget", "--draws", "0", "--out", str(out)]) == 2
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["plan.csv"]  # no temporary folders left behind


def test_cli_out_must_be_a_folder(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("keep me", encoding="utf-8")
    assert main(["budget", "--draws", "10", "--out", str(target)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_an_object_with_an_assignment_is_a_plan(homes, policy):
    class PlanLike:  # what gridsim.plan.Plan offers: the grid of every home, aligned with homes
        assignment = homes["unit_id"] + "-one"

    r = simulate_budget(homes, PlanLike(), policy, draws=20, seed=0)
    assert len(r.grids) == homes["unit_id"].nunique() and r.meta["plan"] == "plan"
