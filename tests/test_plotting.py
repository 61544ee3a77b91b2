"""Figures render Chinese with the shipped CJK font (a missing glyph fails), and the summaries conserve counts."""

from __future__ import annotations

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from gridsim import maps, plotting  # noqa: E402
from gridsim.policy import load_policy  # noqa: E402
from gridsim.registers import read_homes, read_layer  # noqa: E402

GLYPH_MISSING = r"(?s).*Glyph .* missing from"
SAMPLE = "史河街道网格化服务管理：户数、常住户、五必访、经费（元）"


@pytest.fixture(scope="module")
def data():
    return read_homes(), read_layer("units"), read_layer("barriers")


def draw_strictly(fig: plt.Figure) -> None:
    """Render the figure; any missing glyph warning becomes an error."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=GLYPH_MISSING)
            fig.canvas.draw()
    finally:
        plt.close(fig)


def test_font_is_registered_first():
    name = plotting.use_chinese_font()
    assert plotting.cjk_font_path().is_file()
    assert matplotlib.rcParams["font.sans-serif"][0] == name
    assert "CJK" in name


def test_chinese_text_has_every_glyph():
    plotting.use_chinese_font()
    fig, ax = plt.subplots()
    ax.set_title(SAMPLE)
    ax.set_xlabel("户数 (households)")
    ax.plot([0, 1], [0, -1], label="中位数 median")
    ax.legend()
    draw_strictly(fig)


def test_missing_glyph_is_detected():
    """The check above can fail: without the CJK font the same text raises."""
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
        fig, ax = plt.subplots()
        ax.set_title(SAMPLE)
        with pytest.raises(UserWarning, match=re.compile("Glyph .* missing", re.S)):
            draw_strictly(fig)


def test_report_figures_render_without_missing_glyphs(data):
    homes, units, barriers = data
    from gridsim.graph import build_graph
    from gridsim.plan import Plan

    today = Plan.from_column(homes, build_graph(homes, barriers))
    draw_strictly(plotting.household_distributions(today))
    draw_strictly(maps.units_map(units, homes, barriers))
    summary = plotting.unit_summary(homes, units)
    draw_strictly(plotting.bar_by_unit(summary.set_index("名称 name"), "户数 households", "户数 (households)",
                                       title="各村（社）户数", colour_by=None))
    draw_strictly(maps.before_after_map(homes, homes["current_grid_id"], homes["current_grid_id"], units, unit_id="wanfo"))


def test_fan_chart_bands_nest_around_the_median():
    rng = np.random.default_rng(7)
    draws = rng.normal(1000, 100, size=(400, 12)).cumsum(axis=1)
    bands = plotting.percentile_bands(draws, [f"2024-{m:02d}" for m in range(1, 13)])
    np.testing.assert_allclose(bands["p50"], np.median(draws, axis=0))
    fig = plotting.fan_chart(bands, title="经费需求（万元）", scale=10000)
    ax = fig.axes[0]
    polys = list(ax.collections)
    assert len(polys) == len(plotting.FAN_BANDS)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.median(draws, axis=0) / 10000)
    # wider bands are drawn first and enclose the narrower ones
    widths = [np.ptp(b.get_paths()[0].vertices[:, 1]) for b in polys]
    assert widths == sorted(widths, reverse=True)
    draw_strictly(fig)
    tidy = pd.concat([bands.assign(label="甲"), bands.assign(label="乙"), bands.assign(label="丙")])
    fig = plotting.fan_panels(tidy, ylabel="元", title="分项")
    assert sum(ax.get_visible() for ax in fig.axes) == 3
    draw_strictly(fig)


def _overlapping_ticklabels(fig: plt.Figure) -> list[tuple[str, str]]:
    """Pairs of x tick labels, on any one axes, whose rendered boxes touch or overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pairs = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = sorted(((t.get_window_extent(renderer), t.get_text()) for t in labels), key=lambda b: b[0].x0)
        pairs += [(a[1], b[1]) for a, b in zip(boxes, boxes[1:]) if a[0].x1 >= b[0].x0]
    return pairs


def _tidy_bands(periods, items, seed=3):
    rng = np.random.default_rng(seed)
    frames = []
    for k, item in enumerate(items):
        draws = rng.gamma(2.0, 500.0 * (k + 1), size=(300, len(periods))).cumsum(axis=1)
        frames.append(plotting.percentile_bands(draws, periods).assign(label=item))
    return pd.concat(frames, ignore_index=True)


MONTHS_2Y = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
MONTHS_3Y = [f"{y}-{m:02d}" for y in (2024, 2025, 2026) for m in range(1, 13)]
LINES = ["网格员基本报酬 base pay", "考核奖励", "培训", "走访交通补贴", "办公经费"]


@pytest.mark.parametrize("periods, items, ncols", [
    (MONTHS_2Y, LINES, 2),
    (MONTHS_3Y, LINES, 3),
    (MONTHS_2Y[:12], LINES[:4], 4),
    ([f"2024Q{q}" for q in range(1, 5)] + [f"2025Q{q}" for q in range(1, 5)], ["区级 district", "街道 subdistrict"], 2),
])
def test_small_multiples_share_axes_and_month_labels_do_not_overlap(periods, items, ncols):
    fig = plotting.fan_panels(_tidy_bands(periods, items), ylabel="万元/月", scale=10000, ncols=ncols, title="分项")
    assert _overlapping_ticklabels(fig) == []
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == len(items)
    assert len({ax.get_xlim() for ax in shown}) == 1 and len({ax.get_ylim() for ax in shown}) == 1
    # period labels only under the lowest panel of each column, and every column has them
    ncols = min(ncols, len(items))
    for k, ax in enumerate(shown):
        texts = [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        lowest = k + ncols >= len(items)
        assert bool(texts) == lowest, (k, texts)
        if lowest:
            assert texts[0].endswith(("1月", "1季度")) and "2024年" in texts[0] + ax.get_xlabel()  # the year shown
            assert all(len(t) <= 9 for t in texts)  # short labels, not 2024-07
    draw_strictly(fig)


def test_single_fan_chart_labels_every_month_of_a_year_without_overlap():
    bands = _tidy_bands(MONTHS_2Y[:12], ["总计"])
    fig = plotting.fan_chart(bands, title="经费需求", ylabel="万元/月", scale=10000)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [f"{m}月" for m in range(1, 13)] and fig.axes[0].get_xlabel() == "2024年"
    assert _overlapping_ticklabels(fig) == []
    plt.close(fig)


def test_overlap_check_sees_crowded_labels():
    """The check can fail: every month of three years, labelled in full, on one panel's width."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.set_xticks(range(36), MONTHS_3Y)
    assert len(_overlapping_ticklabels(fig)) > 10
    plt.close(fig)


def test_period_labels_are_short_and_carry_the_year():
    assert plotting.period_labels(["2024-01", "2024-02"]) == (["1月", "2月"], "2024年")
    assert plotting.period_labels(["2024-12", "2025-01", "2025-02"]) == (["2024年12月", "2025年1月", "2月"], "2024–2025年")
    assert plotting.period_labels(["2024Q4", "2025Q1"]) == (["2024年4季度", "2025年1季度"], "2024–2025年")
    assert plotting.period_labels(["2024", "2025"]) == (["2024年", "2025年"], "")
    assert plotting.period_labels(["上半年", "下半年"]) == (["上半年", "下半年"], "")


def test_fan_chart_rejects_bad_input():
    with pytest.raises(ValueError):
        plotting.percentile_bands(np.zeros((10, 5)), ["a", "b"])
    with pytest.raises(ValueError, match="p20"):
        plotting.fan_chart(pd.DataFrame({"period": ["a"], "p5": [1], "p50": [2], "p95": [3]}))


def test_summaries_conserve_households(data):
    homes, units, _ = data
    totals = plotting.totals_by_type(homes)
    assert totals.loc["合计 total", "户数 households"] == homes["households"].sum()
    assert totals.loc["合计 total", "住户点数 homes"] == len(homes)
    per_unit = plotting.unit_summary(homes, units)
    assert len(per_unit) == units["unit_id"].nunique()
    assert per_unit["户数 households"].sum() == homes["households"].sum()
    assert per_unit["现网格数 grids today"].sum() == homes["current_grid_id"].nunique()


def test_home_cells_tile_each_unit_and_hold_their_home(data):
    homes, units, _ = data
    sel = homes[homes["unit_id"].isin(["wanfo", "huayuan"])]
    part_units = units[units["unit_id"].isin(["wanfo", "huayuan"])]
    cells = maps.home_cells(sel, part_units)
    assert cells.notna().all() and len(cells) == len(sel)
    assert all(c.buffer(1e-6).contains(p) for c, p in zip(cells, sel.geometry))
    areas = maps.grid_areas(sel, sel["current_grid_id"], part_units, cells)
    assert len(areas) == sel["current_grid_id"].nunique()
    assert areas["households"].sum() == sel["households"].sum()
    # grid areas cover their units without overlap
    assert areas.area.sum() == pytest.approx(part_units.area.sum(), rel=1e-6)


def test_scenario_overrides_lists_each_change():
    table = plotting.scenario_overrides(["community_cap_400", "pay_per_full_100"])
    assert len(table) == 2
    cap = table[table["参数 parameter"].str.contains("grid.community.max_planned_households")].iloc[0]
    assert cap["基线 baseline"] == "500" and cap["community_cap_400"] == "400" and cap["pay_per_full_100"] == "—"


@pytest.fixture(scope="module")
def today_plan(data):
    from gridsim.graph import build_graph
    from gridsim.plan import Plan

    homes, _, barriers = data
    return Plan.from_column(homes, build_graph(homes, barriers), "current_grid_id")


def test_rule_breaks_count_each_breaking_grid_once_per_rule(today_plan, data):
    from gridsim.plan import RULES

    _, units, _ = data
    summary, violations = today_plan.summary(), today_plan.violations_frame()
    table = plotting.rule_breaks(violations, summary, {k: r.label for k, r in RULES.items()})
    per_rule = violations.drop_duplicates(["rule", "grid_id"]).groupby("rule").size()
    body = table.iloc[:-1]
    assert sorted(body["不符合的网格数 grids breaking"]) == sorted(per_rule.tolist())
    assert set(body["规则 rule"]) == {RULES[r].label for r in per_rule.index}
    last = table.iloc[-1]
    assert last["不符合的网格数 grids breaking"] == int((~summary["ok"]).sum())
    assert 0 < last["占该类网格 share of grids"] <= 1
    by_unit = plotting.breaks_by_unit(summary, units)
    assert by_unit["grids"].sum() == today_plan.n_grids()
    assert by_unit["breaking"].sum() == int((~summary["ok"]).sum())
    draw_strictly(plotting.stacked_status_by_unit(by_unit, title="现状网格"))
    cells_areas = maps.grid_areas(today_plan.homes, today_plan.assignment, units)
    draw_strictly(maps.grids_map(cells_areas, units, status=~summary.set_index("grid_id")["ok"], title="是否合规"))


def test_neighbouring_grids_get_different_colours(data):
    homes, units, _ = data
    sel = homes["unit_id"] == "guanshan"
    areas = maps.grid_areas(homes[sel], homes.loc[sel, "current_grid_id"], units[units["unit_id"] == "guanshan"])
    colours = maps.neighbour_colours(areas)
    geoms = areas.geometry.to_numpy()
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            if geoms[i].intersects(geoms[j]):
                assert colours[i] != colours[j]


def test_groups_split_lists_only_groups_in_several_grids(data):
    homes, _, _ = data
    groups = read_layer("groups")
    # today's map: move one home of a group to another grid, that group (and only it) appears split
    plan = homes["current_grid_id"].copy()
    whole = plotting.groups_split(homes, plan, groups)
    victim_group = next(g for g in homes["group_id"].unique() if g not in set(whole["编号 group_id"])
                        and homes.loc[homes["group_id"] == g, "current_grid_id"].nunique() == 1
                        and (homes["group_id"] == g).sum() > 1)
    idx = homes.index[homes["group_id"] == victim_group][0]
    plan.loc[idx] = "elsewhere"
    after = plotting.groups_split(homes, plan, groups)
    assert set(after["编号 group_id"]) - set(whole["编号 group_id"]) == {victim_group}
    row = after[after["编号 group_id"] == victim_group].iloc[0]
    total = int(homes.loc[homes["group_id"] == victim_group, "households"].sum())
    assert sum(int(x) for x in row["户数分布 households per grid"].split(" + ")) == total


def _summary(scale: float) -> pd.DataFrame:
    """A budget summary shaped like BudgetResult.summary (yuan per year)."""
    rows = [("total", "合计 total", 100), ("funder:district", "区级资金 district", 50),
            ("funder:subdistrict", "街道资金 subdistrict", 50), ("line:base_pay", "基础工资 base pay", 80),
            ("line:training", "培训 training", 20), ("unit:a", "甲村", 60), ("unit:b", "乙社区", 40)]
    return pd.DataFrame([{"year": 2024, "item": i, "label": lab, "p5": v * scale * 0.9, "p50": v * scale,
                          "p95": v * scale * 1.2, "mean": v * scale} for i, lab, v in rows])


def test_money_tables_and_charts_keep_items_and_order():
    today, plan = _summary(1000.0), _summary(800.0)
    table = plotting.money_table(today)
    assert list(table.index) == ["合计 total", "区级资金 district", "街道资金 subdistrict", "基础工资 base pay", "培训 training"]
    assert table.loc["合计 total", "中位数 P50（元/年）"] == 100000.0
    both = plotting.compare_money({"现状": today, "优化": plan})
    assert both[("优化", "中位数 P50（元/年）")]["培训 training"] == 16000.0
    fig = plotting.unit_money_chart({"现状": today, "优化": plan}, title="各村（社）")
    bars = [p for p in fig.axes[0].patches]
    assert sorted(round(b.get_width(), 3) for b in bars) == [3.2, 4.0, 4.8, 6.0]  # 万元
    draw_strictly(fig)
    fig = plotting.grouped_money_chart({"现状": today, "优化": plan}, "line:", title="按分项")
    assert len(fig.axes[0].patches) == 4
    draw_strictly(fig)


def _assessment_grids() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_type": ["community", "community", "village", "village"],
        "households": [480, 260, 150, 90], "visits_due_month": [160, 90, 50, 30],
        "worker_visits_month": [160, 90, 50, 30],
        "visit_load_ratio": [160 / 120, 90 / 120, 50 / 120, 30 / 120],
        "p_unqualified_month": [0.1, 0.02, 0.01, 0.0], "p_criticism": [0.3, 0.05, 0.02, 0.0],
        "p_termination": [0.2, 0.03, 0.01, 0.0]}, index=["c-g1", "c-g2", "v-g1", "v-g2"])


def test_risk_by_size_groups_grids_by_households():
    table = plotting.risk_by_size(_assessment_grids())
    assert list(table.index) == ["0–100", "100–200", "200–300", "400–500"]
    assert table[plotting.RISK_COLUMNS["grids"]].sum() == 4
    assert table.loc["400–500", plotting.RISK_COLUMNS["p_termination"]] == 0.2
    draw_strictly(plotting.risk_by_size_chart({"甲": _assessment_grids()}))
    fig = plotting.visits_vs_capacity({"现状": _assessment_grids()}, 120)
    assert "1 个超出能力" in fig.axes[0].get_title()
    draw_strictly(fig)


def test_score_histogram_reports_share_below_the_pass_mark():
    dist = pd.DataFrame({"grid_id": ["a", "a", "a", "b", "b"], "score": [50, 60, 90, 95, 100],
                         "share": [0.1, 0.1, 0.8, 0.5, 0.5]})
    fig = plotting.score_histogram({"方案": dist}, load_policy())
    label = fig.axes[0].get_legend().get_texts()[0].get_text()
    assert "10.00%" in label  # one grid of two has 20 % of its months at or below 60 (以下 includes 60)
    draw_strictly(fig)
    fig = plotting.score_histogram({"方案": dist}, load_policy("boundary_exclusive"))
    assert "5.00%" in fig.axes[0].get_legend().get_texts()[0].get_text()  # 60 itself passes


def test_scenario_key_figures_from_real_budget_runs(data):
    from gridsim.budget import simulate_budget

    from gridsim.graph import build_graph
    from gridsim.plan import Plan

    homes = data[0]
    today = Plan.from_column(homes, build_graph(homes, data[2]))
    runs = {name: simulate_budget(today, load_policy(sid), draws=40, seed=1, years=2)
            for name, sid in (("基线", "baseline"), ("每满100户", "pay_per_full_100"))}
    key = plotting.scenario_key_figures(runs, capacity=120)
    assert list(key.index) == ["基线", "每满100户"]
    assert (key["网格数 grids"] == homes["current_grid_id"].nunique()).all()
    last = runs["基线"].summary
    last = last[last["year"].astype(int) == last["year"].astype(int).max()].set_index("item")
    assert key.loc["基线", "合计 P50（元/年）"] == pytest.approx(last.loc["total", "p50"])
    # paying only per full 100 households can only lower base pay
    assert key.loc["每满100户", "基础工资 P50（元/年）"] < key.loc["基线", "基础工资 P50（元/年）"]
    diff = plotting.differences_from_first(key, ["合计 P50（元/年）"])
    assert list(diff.index) == ["每满100户"]
    assert diff.iloc[0, 0] == pytest.approx(key.iloc[1]["合计 P50（元/年）"] - key.iloc[0]["合计 P50（元/年）"])


def test_partition_table_and_chart_against_a_real_partition(data):
    from gridsim.graph import build_graph
    from gridsim.partition import partition

    homes, units, barriers = data
    sel = homes[homes["unit_id"].isin(["huayuan", "synth_c2"])].reset_index(drop=True)
    result = partition(sel, build_graph(sel, barriers), seed=0, time_limit=30)
    today = sel.groupby("unit_id")["current_grid_id"].nunique()
    table = plotting.partition_table(result.units, today, units)
    assert list(table.index[:-1]) == ["synth_c2", "huayuan"] and table.index[-1] == "total"
    assert table.loc["total", "优化后网格数 grids"] == result.plan.n_grids()
    assert table.loc["total", "现网格数 grids today"] == sel["current_grid_id"].nunique()
    assert table.loc["total", "户数 households"] == sel["households"].sum()
    assert (table.iloc[:-1]["优化后网格数 grids"] >= table.iloc[:-1]["下界 lower bound"]).all()
    fig = plotting.grid_count_chart(result.units, today, units)
    assert len(fig.axes[0].patches) == 4  # today and optimized, for two units
    draw_strictly(fig)
    split = plotting.groups_split(sel, result.plan.assignment, read_layer("groups"))
    assert int((split["网格数 grids"] - 1).sum()) == result.plan.split_groups()


def test_grid_areas_are_remembered_only_for_the_same_inputs(data):
    homes, units, _ = data
    sel = homes[homes["unit_id"] == "guanshan"].copy()
    part_units = units[units["unit_id"] == "guanshan"]
    cells = maps.home_cells(sel, part_units)
    first = maps.grid_areas(sel, sel["current_grid_id"], part_units, cells)
    first["households"] = -1  # a caller changing its copy changes nothing remembered
    again = maps.grid_areas(sel, sel["current_grid_id"], part_units, cells)
    assert (again["households"] > 0).all()
    # one home to another grid: other outlines and counts, not the remembered ones
    moved = sel["current_grid_id"].copy()
    home = moved.index[0]
    target = next(g for g in moved.unique() if g != moved[home])
    moved[home] = target
    after = maps.grid_areas(sel, moved, part_units, cells).set_index("grid_id")
    before = again.set_index("grid_id")
    hh = int(sel.loc[home, "households"])
    assert after.loc[target, "households"] == before.loc[target, "households"] + hh
    assert after.loc[target].geometry.area > before.loc[target].geometry.area
    # the same assignment with other counts in the register: recomputed
    more = sel.assign(households=sel["households"] + 1)
    assert maps.grid_areas(more, more["current_grid_id"], part_units, cells)["households"].sum() == \
        again["households"].sum() + len(sel)
