"""Funding need: cost lines add up, funders split them, bands are ordered, and the CLI writes all or nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.budget import LINES, simulate_budget
from gridsim.cli import main
from gridsim.errors import GridsimError
from gridsim.policy import load_policy


@pytest.fixture(scope="module")
def homes():
    from gridsim.registers import read_homes

    return read_homes()


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def graph(homes):
    from gridsim.graph import build_graph
    from gridsim.registers import read_layer

    return build_graph(homes, read_layer("barriers"))


@pytest.fixture(scope="module")
def today(homes, graph):
    from gridsim.plan import Plan

    return Plan.from_column(homes, graph)


def plan_of(homes, graph, assignment):
    from gridsim.plan import Plan

    return Plan(homes, graph, np.asarray(assignment, dtype=object))


@pytest.fixture(scope="module")
def result(today, policy):
    return simulate_budget(today, policy, draws=300, seed=0)


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


def test_deterministic_lines_by_hand_at_asymmetric_shares(homes, today, policy):
    """Each cost line and each funder's share, computed here from the plan's words at a district share of
    0.3 for pay and 0.2 for publicity and training, with nothing drawn."""
    pol = policy.with_overrides({"funding.district_share": 0.3, "funding.district_share_publicity_training": 0.2,
                                 "assessment.miss_rate_base": 0.0, "assessment.other_points_mean": 0.0,
                                 "assessment.training_absence_rate": 0.0, "cases.on_time_rate": 1.0})
    r = simulate_budget(today, pol, draws=400, seed=5, uncertain=False)
    s = r.summary.set_index("item")
    t = today.tallies()
    grids = len(t)
    # 三(三): 2 sessions (April, October; both after the new rules start in February) × 2 people × 60 yuan
    training = 2 * grids * 2 * 60.0
    assert s.loc["line:training", "p5"] == pytest.approx(training)
    assert s.loc["line:training", "p95"] == pytest.approx(training)
    # 三(七): 19 units × 11 priced months × 2 posts × adoption 0.5 × 500 yuan, Binomial noise only
    publicity = 19 * 11 * 2 * 0.5 * 500
    sd = np.sqrt(19 * 11 * 2 * 0.5 * 0.5) * 500 / np.sqrt(400)  # standard error of the mean
    assert s.loc["line:publicity", "mean"] == pytest.approx(publicity, abs=4 * sd)
    # 三(一)3: 2 yuan a household (village: a house), at most 600 a grid, February to December, no deductions
    counted = np.where(t["unit_type"] == "village", t["homes"], t["households"])
    monthly = np.minimum(2.0 * counted, 600.0)
    assert s.loc["line:base_pay", "p50"] == pytest.approx(11 * monthly.sum())
    tot = r.replicate_totals()
    pay = tot["base_pay"] + tot["performance_pay"]
    other = tot["publicity"] + tot["training"]
    assert np.allclose(tot["district"], 0.3 * pay + 0.2 * other)
    assert np.allclose(tot["subdistrict"], 0.7 * pay + 0.8 * other)


def test_base_pay_split_is_not_swapped(today, policy):
    pol = policy.with_overrides({"funding.district_share": 0.25, "funding.district_share_publicity_training": 0.0})
    r = simulate_budget(today, pol, draws=100, seed=1, uncertain=False)
    d = r.summary.set_index("item")
    base = d.loc["line:base_pay", "mean"]
    assert d.loc["funder:district", "mean"] == pytest.approx(0.25 * (base + d.loc["line:performance_pay", "mean"]))
    assert d.loc["funder:district", "mean"] < d.loc["funder:subdistrict", "mean"]


def test_scenarios_move_base_pay(today):
    base = simulate_budget(today, load_policy(), draws=100, seed=0, uncertain=False)
    full100 = simulate_budget(today, load_policy("pay_per_full_100"), draws=100, seed=0, uncertain=False)
    resident = simulate_budget(today, load_policy("pay_on_resident"), draws=100, seed=0, uncertain=False)
    registered = simulate_budget(today, load_policy("village_registered_households"), draws=100, seed=0,
                                 uncertain=False)
    b = base.grids["base_pay_month"].sum()
    assert full100.grids["base_pay_month"].sum() < b
    assert resident.grids["base_pay_month"].sum() < b
    assert (resident.grids["basis_households"] == resident.grids["resident_households"]).all()
    assert registered.grids["base_pay_month"].sum() > b  # villages paid on registered households, not houses


def test_an_illegal_plan_is_priced_but_says_so(today, policy):
    r = simulate_budget(today, policy, draws=20, seed=0)
    assert r.meta["violations"] == len(today.violations_frame()) > 0
    assert r.warnings and "community_min_resident" in r.warnings[0]
    bad = r.grids["rule_violations"] != ""
    assert bad.sum() == (~today.summary()["ok"]).sum()


def test_a_plan_is_priced_with_simulated_cases(homes, graph, policy):
    from gridsim.registers import read_cases

    merged = homes["current_grid_id"].str.replace(r"-g0[12]$", "-g01", regex=True)  # merge g01 and g02 everywhere
    r = simulate_budget(plan_of(homes, graph, merged), policy, draws=100, seed=0, cases=read_cases())
    assert r.meta["cases_source"] == "simulated" and r.meta["plan"] == "plan"
    assert len(r.grids) == merged.nunique() < homes["current_grid_id"].nunique()
    assert int(r.grids["households"].sum()) == int(homes["households"].sum())
    today = simulate_budget(plan_of(homes, graph, homes["current_grid_id"]), policy, draws=100, seed=0,
                            cases=read_cases())
    assert today.meta["cases_source"] == "observed" and today.meta["plan"] == "today"
    # a register that does not say today's grids: its plan is not today's map, the cases cannot be its own
    unknown = homes.drop(columns="current_grid_id")
    r = simulate_budget(plan_of(unknown, graph, homes["current_grid_id"]), policy, draws=100, seed=0,
                        cases=read_cases())
    assert r.meta["cases_source"] == "simulated" and r.meta["plan"] == "plan"


def test_every_shipped_scenario_prices(today):
    from gridsim.policy import list_scenarios

    totals = {}
    for scen in list_scenarios():
        r = simulate_budget(today, load_policy(scen.id), draws=30, seed=2, uncertain=False)
        totals[scen.id] = r.summary.set_index("item").loc["total", "mean"]
        assert np.isfinite(totals[scen.id]) and totals[scen.id] > 0, scen.id
    assert totals["publicity_subdistrict"] < totals["baseline"] < totals["high_spend"]
    assert totals["start_after_deadline"] < totals["baseline"]


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
    assert widths["F"].width >= 20  # 登记户数（户）households: Chinese characters count double
    headers = [c.value for c in wb["网格"][1]]
    assert "违反规则（三(一)）rule violations" in headers and "规则计数户数（户）counted" in headers


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
    assert "spans several units" in capsys.readouterr().err
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


def test_a_list_of_grid_ids_is_not_a_plan(homes, policy):
    with pytest.raises(Exception, match="Plan"):
        simulate_budget(homes["current_grid_id"], policy, draws=20, seed=0)


def test_yearly_bands_only_give_the_same_summary(today, policy):
    full = simulate_budget(today, policy, draws=60, seed=4)
    lean = simulate_budget(today, policy, draws=60, seed=4, bands="year")
    pd.testing.assert_frame_equal(full.summary, lean.summary)
    assert set(lean.bands["freq"]) == {"year"} and len(lean.bands) < len(full.bands)
    with pytest.raises(Exception, match="bands"):
        simulate_budget(today, policy, draws=10, seed=4, bands="month")


def test_fan_is_one_dimension_renumbered_and_refuses_unknown_names(result):
    quarters = result.fan("funder", "quarter")
    assert list(quarters.index) == list(range(len(quarters)))  # renumbered, the old index is not a column
    assert list(quarters.columns) == list(result.bands.columns)
    assert set(quarters["item"]) == {"funder:district", "funder:subdistrict"}
    with pytest.raises(GridsimError, match=r"没有这样的分项 \(no such bands\): dimension='lines', freq='month'"):
        result.fan("lines", "month")


def test_replicate_totals_are_each_years_own_months(today, policy):
    r = simulate_budget(today, policy, draws=20, seed=4, years=2)
    t = r.replicate_totals()
    assert list(t.columns) == ["replicate", "year", *LINES, "district", "subdistrict", "total"]
    assert list(t["year"]) == [2024] * 20 + [2025] * 20
    assert list(t["replicate"]) == list(range(20)) * 2
    assert list(t.index) == list(range(40))
    for y in (2024, 2025):
        months = np.asarray(r.periods.year == y)
        by_hand = r.costs[:, months].sum(axis=(1, 2, 3))
        assert (by_hand > 0).all()
        assert np.allclose(t.loc[t["year"] == y, "total"].to_numpy(), by_hand)
        assert np.allclose(t.loc[t["year"] == y, "district"].to_numpy(), r.district[:, months].sum(axis=(1, 2)))


def test_funding_figures_are_the_summary_and_rates_without_frames(today, policy):
    """What every sweep run reads equals what simulate_budget's frames say, to the last bit: an illegal plan
    (today's map), several blocks on two threads, a later year, and every shipped scenario's rules."""
    from gridsim.budget import FIGURES, funding_figures
    from gridsim.policy import list_scenarios
    from gridsim.sweep import outputs_of

    common = dict(year=None, uncertain=True, workers=None)
    cases = [(policy, {**common, "draws": 210, "seed": 3, "workers": 2}),
             (policy, {**common, "draws": 40, "seed": 1, "year": 2025})]
    cases += [(load_policy(s.id), {**common, "draws": 10, "seed": 2, "uncertain": False}) for s in list_scenarios()]
    for pol, kw in cases:
        figures = funding_figures(today, pol, **kw)
        assert tuple(figures) == FIGURES
        assert figures == outputs_of(simulate_budget(today, pol, **kw)), (pol.scenario.id, kw)
    assert figures["violations"] > 0 and figures["subdistrict_p5"] <= figures["subdistrict_p95"]


def test_without_a_policy_the_plan_is_priced_under_its_own(today):
    """simulate_budget(plan) prices a plan under the policy it was judged by, not the baseline."""
    own = load_policy("visits_shared").with_overrides({"funding.district_share": 0.3})
    r = simulate_budget(today.with_policy(own), None, draws=30, seed=2, uncertain=False)
    assert r.meta["scenario"] == own.scenario.id == "visits_shared+custom"
    t = r.replicate_totals()
    pay = t["base_pay"] + t["performance_pay"]
    other = t["publicity"] + t["training"]
    share_other = float(own["funding.district_share_publicity_training"])
    assert np.allclose(t["district"], 0.3 * pay + share_other * other)


def test_funders_other_than_the_plans_two_are_refused(today, policy):
    from gridsim.errors import PolicyError

    three = policy.with_overrides({"funding.sources": ("district", "subdistrict", "city")})
    want = ("资金来源须为 (funding.sources must be) ['district', 'subdistrict'] (三(一)3), "
            "得到 got ['district', 'subdistrict', 'city']")
    with pytest.raises(PolicyError) as err:
        simulate_budget(today, three, draws=5, seed=0)
    assert str(err.value) == want


def test_a_plan_is_judged_by_the_policy_it_is_priced_under(today, policy):
    """The rule violations a priced plan reports are those of the policy passed in, not the plan's own."""
    loose = policy.with_overrides({"grid.community.min_resident_households": 1, "grid.village.min_households": 1})
    r_base = simulate_budget(today, policy, draws=5, seed=0, uncertain=False)
    r_loose = simulate_budget(today, loose, draws=5, seed=0, uncertain=False)
    assert r_base.meta["violations"] == len(today.violations_frame()) > 0
    assert r_loose.meta["violations"] == len(today.with_policy(loose).violations_frame()) < r_base.meta["violations"]
    judged = today.with_policy(loose)  # and a plan judged by a stricter policy is re-judged by the one given
    assert simulate_budget(judged, policy, draws=5, seed=0, uncertain=False).meta["violations"] == r_base.meta["violations"]


def test_a_plan_that_cannot_be_priced_is_refused_by_name(homes, graph, policy):
    """Homes without a grid, or a grid across units, have no unit to pay from: one error naming the register,
    the field and each home or grid (at most 50), and nothing priced."""
    from gridsim.errors import InputError

    mine = homes.copy()
    mine.attrs = {"source": "住户登记表.xlsx"}
    a = mine["current_grid_id"].to_numpy(object).copy()
    a[3] = None
    with pytest.raises(InputError) as err:
        simulate_budget(plan_of(mine, graph, a), policy, draws=2, seed=0)
    assert str(err.value) == ("网格方案无法计价 (plan cannot be priced): 住户登记表.xlsx\n共 1 处问题 (1 problem(s)):\n"
                              f"  - 文件 file=住户登记表.xlsx, 字段 field=grid_id（网格编号）, 值 value='{mine['home_id'].iat[3]}': "
                              "住户没有分到网格 (home has no grid)\n未写出任何文件 (nothing was written).")
    a[:60] = None
    anonymous = homes.copy()
    anonymous.attrs = {}
    with pytest.raises(InputError) as err:
        simulate_budget(plan_of(anonymous, graph, a), policy, draws=2, seed=0)
    assert err.value.source == "homes" and len(err.value.problems) == 50
    assert {p.value for p in err.value.problems} == set(homes["home_id"].iloc[:50])
    b = homes["current_grid_id"].to_numpy(object).copy()
    first = homes["unit_id"].iat[0]
    other = np.flatnonzero(homes["unit_id"].to_numpy() != first)[0]
    b[other] = b[0]
    with pytest.raises(InputError) as err:
        simulate_budget(plan_of(mine, graph, b), policy, draws=2, seed=0)
    units = sorted({first, homes["unit_id"].iat[other]})
    assert str(err.value).splitlines()[2] == (
        f"  - 文件 file=住户登记表.xlsx, 字段 field=grid_id（网格编号）, 值 value='{b[0]}': "
        f"网格跨越多个村（社）{units}，经费无法归属到村（社）(grid spans several units; its money has no unit)")
    assert err.value.headline == "网格方案无法计价 (plan cannot be priced)"


def test_bands_carry_the_workbooks_chinese_labels(result):
    """The labels the workbook and fan charts print, item by item (Chinese first, English beside)."""
    labels = dict(zip(result.bands["item"], result.bands["label"]))
    assert labels["total"] == "合计 total"
    assert labels["line:base_pay"] == "基础工资（扣分后）base pay after deductions"
    assert labels["funder:district"] == "区级资金 district" and labels["funder:subdistrict"] == "街道资金 subdistrict"
    assert set(result.bands["dimension"]) == {"total", "line", "funder", "unit", "unit_line"}
    assert set(result.bands["freq"]) == {"month", "quarter", "year"}


def test_unit_line_bands_are_yearly_and_each_units_own(result):
    """Per unit and cost line only the yearly band is kept (the workbook's 村社分项 sheet); each is that unit's line."""
    ul = result.bands[result.bands["dimension"] == "unit_line"]
    assert set(ul["freq"]) == {"year"} and len(ul) == len(result.units) * len(LINES)
    for j, u in enumerate(result.units[:3]):
        for k, line in enumerate(LINES):
            row = ul[ul["item"] == f"unit_line:{u}/{line}"]
            assert row["mean"].iat[0] == pytest.approx(result.costs[:, :, j, k].sum(axis=1).mean())


def test_bands_columns_are_the_documented_ones(result):
    """freq, period, its first day (the fan charts' x), dimension, item, label, percentiles and mean."""
    assert list(result.bands.columns) == ["freq", "period", "start", "dimension", "item", "label",
                                          "p5", "p20", "p35", "p50", "p65", "p80", "p95", "mean"]
    quarters = result.fan("total", "quarter")
    assert [str(s.date()) for s in quarters["start"]] == ["2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01"]
