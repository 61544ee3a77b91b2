"""Figures and summary tables for the notebooks, with Chinese labels that render on a bare machine.

Matplotlib's default font (DejaVu Sans) has no Chinese glyphs, so every label would come out as empty
boxes. :func:`use_chinese_font` registers Noto Sans CJK SC (SIL Open Font License), which the
``mplfonts`` dependency ships, and puts it first in matplotlib's font family list with DejaVu Sans as
the fallback; every function here calls it, so a notebook never has to. The notebooks stay thin:
they call these helpers and show the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.ticker import MaxNLocator

CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"
FALLBACK_FONTS = ("DejaVu Sans",)

# Colours used throughout, so the same thing has the same colour in every notebook.
UNIT_TYPE_ZH = {"community": "社区", "village": "村"}
UNIT_TYPE_COLOURS = {"community": "#4C72B0", "village": "#55A868"}
STATUS_COLOURS = {"ok": "#55A868", "violation": "#C44E52"}
FAN_BANDS = ((5, 95), (20, 80), (35, 65))  # the percentile bands budget offices publish (OBR, CPB)
# Plans or scenarios compared side by side: the first (today's map, or the baseline) is grey.
SERIES_COLOURS = ("#8C8C8C", "#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3")

_font_name: str | None = None


def cjk_font_path() -> Path:
    """The Noto Sans CJK SC file inside the installed ``mplfonts`` package."""
    import mplfonts

    path = Path(mplfonts.__file__).resolve().parent / "fonts" / CJK_FONT_FILE
    if not path.exists():
        from .errors import GridsimError

        raise GridsimError(f"找不到中文字体 (Chinese font not found): {path}; 请重新安装 mplfonts (reinstall mplfonts)")
    return path


def use_chinese_font() -> str:
    """Register the CJK font with matplotlib and make it the first sans-serif font; return its name.

    Safe to call many times: the font is added to the font manager once per process.
    """
    global _font_name
    if _font_name is None:
        path = cjk_font_path()
        font_manager.fontManager.addfont(str(path))
        _font_name = font_manager.FontProperties(fname=str(path)).get_name()
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = [_font_name, *FALLBACK_FONTS]
    matplotlib.rcParams["axes.unicode_minus"] = False  # the CJK font's hyphen is used for minus signs
    matplotlib.rcParams["figure.dpi"] = 100
    matplotlib.rcParams["savefig.dpi"] = 100
    return _font_name


# ---------------------------------------------------------------------------------------------------
# Summaries of the register (tables a reader can check against the figures)


def unit_summary(homes: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """One row per village/community: homes, households, resident and key households, today's grids."""
    agg = homes.groupby("unit_id").agg(
        homes=("home_id", "size"),
        households=("households", "sum"),
        resident=("resident_households", "sum"),
        key=("key_households", "sum"),
        groups=("group_id", "nunique"),
        grids=("current_grid_id", "nunique"),
    )
    out = units.set_index("unit_id")[["name", "unit_type"]].join(agg, how="left").fillna(0)
    out["resident_share"] = np.where(out["households"] > 0, out["resident"] / out["households"].where(out["households"] > 0, 1), 0.0)
    out = out.sort_values(["unit_type", "households"], ascending=[True, False])
    out["unit_type"] = out["unit_type"].map(UNIT_TYPE_ZH)
    int_cols = ["homes", "households", "resident", "key", "groups", "grids"]
    out[int_cols] = out[int_cols].astype(int)
    return out.rename(columns={
        "name": "名称 name", "unit_type": "类型 type", "homes": "住户点数 homes", "households": "户数 households",
        "resident": "常住户数 resident", "key": "五必访户数 key households", "groups": "村民组/小区数 groups",
        "grids": "现网格数 grids today", "resident_share": "常住率 resident share",
    }).rename_axis("村社 unit_id")


def totals_by_type(homes: pd.DataFrame) -> pd.DataFrame:
    """Totals for communities, villages and the whole subdistrict (counts are conserved across the rows)."""
    agg = homes.groupby("unit_type").agg(
        units=("unit_id", "nunique"), homes=("home_id", "size"), households=("households", "sum"),
        resident=("resident_households", "sum"), key=("key_households", "sum"),
        grids=("current_grid_id", "nunique"),
    )
    agg.loc["total"] = agg.sum()
    agg = agg.astype(int)
    agg.index = [f"{UNIT_TYPE_ZH.get(i, '合计')} {i}" for i in agg.index]
    return agg.rename(columns={
        "units": "村社数 units", "homes": "住户点数 homes", "households": "户数 households",
        "resident": "常住户数 resident", "key": "五必访户数 key households", "grids": "现网格数 grids today",
    })


# ---------------------------------------------------------------------------------------------------
# Figures


def household_distributions(plan) -> plt.Figure:
    """Histograms of households per home and per grid of a :class:`~gridsim.plan.Plan`, communities and
    villages apart, with the plan's limits (:mod:`gridsim.grid_rules`) as vertical lines on the per-grid
    panels: each limit is drawn on the count it applies to (a village's count basis may be houses)."""
    use_chinese_font()
    homes = plan.homes
    tallies = plan.summary()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    for col, utype in enumerate(("community", "village")):
        colour = UNIT_TYPE_COLOURS[utype]
        per_home = homes.loc[homes["unit_type"] == utype, "households"]
        ax = axes[0, col]
        if len(per_home):
            ax.hist(per_home, bins=np.arange(0.5, per_home.max() + 1.5, max(1, int(per_home.max() // 40) or 1)),
                    color=colour)
            if per_home.max() > 20:
                ax.set_yscale("log")
        ax.set_title(f"{UNIT_TYPE_ZH[utype]}：每处住房（楼栋/院落）的户数")
        ax.set_xlabel("户数 (households per home)")
        ax.set_ylabel("住房数 (homes)")
        rules = plan.unit_rules(utype)
        t = tallies[tallies["unit_type"] == utype]
        ax = axes[1, col]
        columns = list(dict.fromkeys([rules.ceiling.tally, rules.floor.tally, "households"]))
        words = {lim.tally: f"{lim.what_zh} {lim.what_en}" for lim in rules.limits}
        words.setdefault("households", "登记户数 registered households")
        values = [int(t[c].max()) for c in columns if len(t)] + [lim.value for lim in rules.limits]
        hi = max(values + [1])
        bins = np.linspace(0, hi * 1.05 + 1, 25)
        for c, alpha, colr in zip(columns, (0.8, 0.5, 0.35), (colour, "#DD8452", "#8C8C8C")):
            ax.hist(t[c], bins=bins, alpha=alpha, label=words[c], color=colr)
        ax.set_xlim(0, hi * 1.15)
        for lim in rules.limits:
            ax.axvline(lim.value, color="black", ls="--", lw=1)
            ax.text(lim.value, ax.get_ylim()[1] * 0.97, f"{'上限' if lim.upper else '下限'} {lim.value} ",
                    fontsize=8, va="top", ha="right", rotation=90)
        ax.set_title(f"{UNIT_TYPE_ZH[utype]}：每个网格的户数（{len(t)} 个网格）")
        ax.set_xlabel("户数 (households per grid)")
        ax.set_ylabel("网格数 (grids)")
        ax.legend(fontsize=7, loc="center right", framealpha=0.9)
    return fig


def bar_by_unit(table: pd.DataFrame, value: str, label: str, *, title: str, colour_by: str | None = None,
                ax: plt.Axes | None = None) -> plt.Figure:
    """A horizontal bar per unit (``table`` indexed by a readable unit name)."""
    use_chinese_font()
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.32 * len(table) + 1.2), constrained_layout=True)
    else:
        fig = ax.figure
    data = table.sort_values(value)
    colours = [UNIT_TYPE_COLOURS.get(t, "#4C72B0") for t in data[colour_by]] if colour_by else "#4C72B0"
    ax.barh(data.index.astype(str), data[value], color=colours)
    ax.set_xlabel(label)
    ax.set_title(title)
    if colour_by:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=c, label=f"{UNIT_TYPE_ZH[k]} {k}") for k, c in UNIT_TYPE_COLOURS.items()],
                  fontsize=8, loc="lower right")
    return fig


def percentile_bands(draws: np.ndarray, periods: Sequence,
                     percentiles: Sequence[int] = (5, 20, 35, 50, 65, 80, 95)) -> pd.DataFrame:
    """Percentiles over replicates (rows of ``draws``) per period (columns): ``period, p5 … p95``."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != len(periods):
        raise ValueError(f"draws must be (replicates, {len(periods)}), got {draws.shape}")
    q = np.percentile(draws, list(percentiles), axis=0)
    return pd.DataFrame({"period": [str(p) for p in periods], **{f"p{p}": q[i] for i, p in enumerate(percentiles)}})


def period_labels(periods: Sequence[str]) -> tuple[list[str], str]:
    """Short tick labels for budget periods and the year(s) they span, for the axis label.

    ``2024-01`` becomes ``1月``, ``2024Q3`` ``3季度``, ``2024`` ``2024年``; where a series runs over
    several years, the first period of each year also carries its year (``2025年1月``). Other labels
    are kept as they are.
    """
    periods = [str(p) for p in periods]
    parsed = []
    for p in periods:
        if len(p) == 7 and p[4] == "-" and p[:4].isdigit() and p[5:].isdigit():
            parsed.append((p[:4], f"{int(p[5:])}月"))
        elif len(p) == 6 and p[4] == "Q" and p[:4].isdigit() and p[5].isdigit():
            parsed.append((p[:4], f"{p[5]}季度"))
        elif len(p) == 4 and p.isdigit():
            parsed.append((p, f"{p}年"))
        else:
            return periods, ""
    years = list(dict.fromkeys(y for y, _ in parsed))
    if all(label.endswith("年") for _, label in parsed):
        return [label for _, label in parsed], ""
    if len(years) == 1:
        return [label for _, label in parsed], f"{years[0]}年"
    labels, last = [], None
    for y, label in parsed:
        labels.append(label if y == last else f"{y}年{label}")
        last = y
    return labels, f"{years[0]}–{years[-1]}年"


def _label_width_in(label: str, fontsize: float) -> float:
    """Rough printed width of a tick label in inches: Chinese characters 1 em, others 0.6 em."""
    ems = sum(1.0 if ord(ch) > 0x2E80 else 0.6 for ch in label)
    return ems * fontsize / 72


def _tick_step(labels: Sequence[str], axis_width_in: float, fontsize: float) -> int:
    """Every how many periods to put a tick so that the labels, set flat, leave gaps between them.

    Steps that divide a year (1, 2, 3, 4, 6, 12 months) come first, so the ticks fall on the same
    months every year.
    """
    widest = max((_label_width_in(t, fontsize) for t in labels), default=0.0) + fontsize / 72  # 1 em gap
    for step in (1, 2, 3, 4, 6, 12):
        if np.ceil(len(labels) / step) * widest <= axis_width_in:
            return step
    return int(np.ceil(len(labels) * widest / max(axis_width_in, 1e-6)))


def _set_period_ticks(ax: plt.Axes, periods: Sequence[str], axis_width_in: float) -> None:
    labels, years = period_labels(periods)
    fontsize = matplotlib.rcParams["xtick.labelsize"]
    fontsize = fontsize if isinstance(fontsize, (int, float)) else \
        matplotlib.font_manager.FontProperties(size=fontsize).get_size_in_points()
    step = _tick_step(labels, axis_width_in, fontsize)
    ticks = np.arange(0, len(labels), step)
    ax.set_xticks(ticks, [labels[i] for i in ticks])
    if years:
        ax.set_xlabel(years)


def fan_chart(bands: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "", ylabel: str = "",
              colour: str = "#C44E52", fan: Sequence[tuple[int, int]] = FAN_BANDS, scale: float = 1.0,
              legend: bool = True) -> plt.Figure:
    """A fan chart: the median line and nested percentile bands, darker towards the middle.

    ``bands`` has a ``period`` column and percentile columns ``p5 … p95`` (as
    :meth:`gridsim.budget.BudgetResult.fan` or :func:`percentile_bands` give them); the bands default
    to 5–95, 20–80 and 35–65, as budget offices publish them. Values are divided by ``scale`` (e.g.
    10000 to plot 万元). Periods are labelled short (``1月``, ``3季度``, :func:`period_labels`), the
    year under the axis, and only as many as fit side by side without touching.
    """
    use_chinese_font()
    missing = [f"p{p}" for lo_hi in fan for p in lo_hi if f"p{p}" not in bands.columns] + \
        ([] if "p50" in bands.columns else ["p50"])
    if missing:
        raise ValueError(f"bands lack percentile columns {missing}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    else:
        fig = ax.figure
    periods = bands["period"].astype(str).tolist()
    x = np.arange(len(periods))
    for i, (lo, hi) in enumerate(sorted(fan, key=lambda b: b[1] - b[0], reverse=True)):
        ax.fill_between(x, bands[f"p{lo}"] / scale, bands[f"p{hi}"] / scale, color=colour, alpha=0.18 + 0.17 * i,
                        lw=0, label=f"P{lo}–P{hi}")
    ax.plot(x, bands["p50"] / scale, color="black", lw=1.5, label="中位数 median")
    # the axes' share of the figure width, less room for the y axis labels (about 0.8 in)
    width_in = ax.get_position().width * fig.get_figwidth() - 0.8
    _set_period_ticks(ax, periods, width_in)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    return fig


def fan_panels(fan: pd.DataFrame, *, ylabel: str, scale: float = 1.0, ncols: int = 2, title: str = "",
               sharey: bool = True) -> plt.Figure:
    """One fan chart per item (``label`` column) of a tidy band frame, e.g. one per cost line or funder.

    Small multiples: the panels share their axes (the same periods, and by default the same value
    scale, so panels compare at a glance); period labels and the year appear only under the lowest
    panel of each column, values only on the left column, and the band legend once, on the first panel.
    """
    use_chinese_font()
    labels = list(dict.fromkeys(fan["label"]))
    ncols = max(1, min(ncols, len(labels)))
    nrows = int(np.ceil(len(labels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 3.2 * nrows + 0.6), constrained_layout=True,
                             squeeze=False, sharex=True, sharey=sharey)
    palette = plt.get_cmap("tab10").colors
    for k, (ax, label) in enumerate(zip(axes.flat, labels)):
        fan_chart(fan[fan["label"] == label], ax=ax, title=label, colour=palette[k % 10], scale=scale,
                  legend=k == 0)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    for k, ax in enumerate(list(axes.flat)[:len(labels)]):
        row, col = divmod(k, ncols)
        lowest = k + ncols >= len(labels)  # nothing drawn below it in its column
        ax.tick_params(axis="x", labelbottom=lowest)
        if not lowest:
            ax.set_xlabel("")
        if col == 0:
            ax.set_ylabel(ylabel)
        elif sharey:
            ax.tick_params(axis="y", labelleft=False)
    if title:
        fig.suptitle(title)
    return fig


def scenario_overrides(scenario_ids: Sequence[str]) -> pd.DataFrame:
    """What each scenario changes: one row per changed parameter, the baseline and each scenario's value.

    A parameter a scenario leaves alone shows as "—" in its column, so the table reads across.
    """
    from .policy import load_baseline, load_policy

    base = load_baseline()
    changed: dict[str, dict[str, object]] = {}
    for sid in scenario_ids:
        for key, (_, value) in load_policy(sid).overridden().items():
            changed.setdefault(key, {})[sid] = value
    rows = []
    for key, values in changed.items():
        p = base.param(key)
        row = {"参数 parameter": f"{p.label}（{key}）", "条款 clause": p.clause, "单位 unit": p.unit,
               "基线 baseline": _show_value(p.value)}
        row.update({sid: _show_value(values[sid]) if sid in values else "—" for sid in scenario_ids})
        rows.append(row)
    return pd.DataFrame(rows)


def _show_value(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)


# ---------------------------------------------------------------------------------------------------
# Plans: rule status and optimizer results (frames from gridsim.plan.Plan and gridsim.partition)


def unit_names(units: pd.DataFrame) -> dict[str, str]:
    """unit_id -> Chinese name, for readable tables and axes."""
    return dict(zip(units["unit_id"], units["name"]))


def rule_breaks(violations: pd.DataFrame, summary: pd.DataFrame, rule_labels: dict[str, str]) -> pd.DataFrame:
    """Per broken rule: its label and clause, how many grids break it, and their share of that unit type's grids.

    ``violations`` and ``summary`` are ``Plan.violations_frame()`` and ``Plan.summary()``; a grid
    breaking two rules is counted under each.
    """
    per_type = summary.groupby("unit_type").size()
    grid_type = summary.set_index("grid_id")["unit_type"]
    v = violations.dropna(subset=["grid_id"]).drop_duplicates(["rule", "grid_id"])
    rows = []
    for rule, part in v.groupby("rule", sort=False):
        utype = grid_type.reindex(part["grid_id"]).mode()
        utype = utype.iloc[0] if len(utype) else ""
        rows.append({"规则 rule": rule_labels.get(rule, rule), "条款 clause": part["clause"].iloc[0],
                     "类型 type": UNIT_TYPE_ZH.get(utype, utype), "不符合的网格数 grids breaking": len(part),
                     "占该类网格 share of grids": len(part) / per_type.get(utype, len(part))})
    total = int((~summary["ok"]).sum())
    rows.append({"规则 rule": "任一规则 any rule", "条款 clause": "三(一)", "类型 type": "全部 all",
                 "不符合的网格数 grids breaking": total, "占该类网格 share of grids": total / max(len(summary), 1)})
    return pd.DataFrame(rows)


def breaks_by_unit(summary: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Per unit: grids, grids meeting every rule and grids breaking one or more."""
    names = unit_names(units)
    agg = summary.groupby("unit_id").agg(unit_type=("unit_type", "first"), grids=("grid_id", "size"),
                                         ok=("ok", "sum"))
    agg["breaking"] = agg["grids"] - agg["ok"]
    agg.index = [names.get(u, u) for u in agg.index]
    return agg.astype({"ok": int, "breaking": int})


def stacked_status_by_unit(table: pd.DataFrame, *, title: str) -> plt.Figure:
    """Per unit, grids meeting the rules (green) and breaking them (red), from :func:`breaks_by_unit`."""
    use_chinese_font()
    data = table.sort_values(["unit_type", "grids"])
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(data) + 1.4), constrained_layout=True)
    names = data.index.astype(str)
    ax.barh(names, data["ok"], color=STATUS_COLOURS["ok"], label="符合新规则 meets rules")
    ax.barh(names, data["breaking"], left=data["ok"], color=STATUS_COLOURS["violation"], label="不符合 breaks rules")
    ax.set_xlabel("网格数 (grids)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


PARTITION_COLUMNS = {
    "name": "名称 name", "unit_type": "类型 type", "households": "户数 households",
    "grids_today": "现网格数 grids today", "lower_bound": "下界 lower bound", "grids": "优化后网格数 grids",
    "gap": "距下界 gap", "violations": "剩余违规 violations", "moved_households": "调整户数 households moved",
    "split_groups": "被拆分的村民组/小区 groups split", "cut_edges": "切边数 cut edges",
}


def partition_table(result_units: pd.DataFrame, today: pd.Series, units: pd.DataFrame) -> pd.DataFrame:
    """The optimizer's per-unit table (``PartitionResult.units``) beside today's grid counts, Chinese headers.

    ``today``: grids per unit today, indexed by unit_id (``homes.groupby("unit_id")["current_grid_id"].nunique()``).
    A last row sums the counts.
    """
    t = result_units.set_index("unit_id").copy()
    t["name"] = t.index.map(unit_names(units))
    t["grids_today"] = today.reindex(t.index).fillna(0).astype(int)
    t = t.sort_values(["unit_type", "households"], ascending=[True, False])  # communities first, as in 01
    t["unit_type"] = t["unit_type"].map(UNIT_TYPE_ZH)
    cols = [c for c in PARTITION_COLUMNS if c in t.columns]
    out = t[cols].rename(columns=PARTITION_COLUMNS).rename_axis("村社 unit_id")
    total = {PARTITION_COLUMNS[c]: (out[PARTITION_COLUMNS[c]].sum() if c not in ("name", "unit_type") else "")
             for c in cols}
    total[PARTITION_COLUMNS["name"]] = "合计 total"
    out.loc["total"] = pd.Series(total)
    return out


def grid_count_chart(result_units: pd.DataFrame, today: pd.Series, units: pd.DataFrame) -> plt.Figure:
    """Per unit: grids today, after optimization, and the lower bound (the fewest any legal plan can have)."""
    use_chinese_font()
    t = result_units.set_index("unit_id").copy()
    t["today"] = today.reindex(t.index).fillna(0)
    t = t.sort_values(["unit_type", "households"])
    names = [unit_names(units).get(u, u) for u in t.index]
    y = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(t) + 1.6), constrained_layout=True)
    ax.barh(y + 0.2, t["today"], height=0.4, color="#BBBBBB", label="现状 today")
    ax.barh(y - 0.2, t["grids"], height=0.4, color=[UNIT_TYPE_COLOURS[u] for u in t["unit_type"]],
            label="优化后 optimized")
    ax.scatter(t["lower_bound"], y - 0.2, marker="|", s=220, color="black", zorder=3, label="下界 lower bound")
    ax.set_yticks(y, names)
    ax.set_xlabel("网格数 (grids)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("各村（社）网格数：现状、优化后与下界")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def groups_split(homes: pd.DataFrame, assignment: pd.Series, groups: pd.DataFrame) -> pd.DataFrame:
    """村民组/小区 whose homes end up in more than one grid: the group, its unit and how its households split."""
    df = pd.DataFrame({"group_id": homes["group_id"].to_numpy(), "grid_id": assignment.reindex(homes.index).to_numpy(),
                       "households": homes["households"].to_numpy()}).dropna(subset=["group_id"])
    per = df.groupby(["group_id", "grid_id"])["households"].sum()
    n = per.groupby(level=0).size()
    split = n[n > 1].index
    info = groups.set_index("group_id")
    rows = []
    for gid in split:
        parts = per.loc[gid].sort_values(ascending=False)
        rows.append({"村民组/小区 group": info["name"].get(gid, gid), "编号 group_id": gid,
                     "村社 unit_id": info["unit_id"].get(gid, ""), "网格数 grids": len(parts),
                     "户数分布 households per grid": " + ".join(f"{int(v)}" for v in parts)})
    return pd.DataFrame(rows, columns=["村民组/小区 group", "编号 group_id", "村社 unit_id", "网格数 grids",
                                       "户数分布 households per grid"])


# ---------------------------------------------------------------------------------------------------
# Money (frames from gridsim.budget.BudgetResult): yuan per year unless stated

BAND_HEADERS = {"p5": "P5（元/年）", "p50": "中位数 P50（元/年）", "p95": "P95（元/年）", "mean": "均值 mean（元/年）"}


def money_table(summary: pd.DataFrame, prefixes: Sequence[str] = ("total", "funder:", "line:")) -> pd.DataFrame:
    """Annual P5 / P50 / P95 of the items whose id starts with one of ``prefixes``, in that order."""
    rows = [summary[summary["item"].str.startswith(p)] for p in prefixes]
    t = pd.concat(rows).drop_duplicates("item")
    out = t.set_index("label")[["p5", "p50", "p95", "mean"]].rename(columns=BAND_HEADERS)
    return out.rename_axis("项目 item")


def compare_money(summaries: dict[str, pd.DataFrame], prefixes: Sequence[str] = ("total", "funder:", "line:")) -> pd.DataFrame:
    """The same items side by side for several plans or scenarios (column groups), yuan per year."""
    parts = {name: money_table(s, prefixes)[[BAND_HEADERS["p5"], BAND_HEADERS["p50"], BAND_HEADERS["p95"]]]
             for name, s in summaries.items()}
    return pd.concat(parts, axis=1)


def unit_money_chart(summaries: dict[str, pd.DataFrame], *, title: str, scale: float = 10000,
                     unit: str = "万元/年") -> plt.Figure:
    """Per village/community: the median annual need with a P5–P95 whisker, one bar per plan."""
    use_chinese_font()
    frames = {k: s[s["item"].str.startswith("unit:")].set_index("label") for k, s in summaries.items()}
    first = next(iter(frames.values()))
    order = first.sort_values("p50").index
    y = np.arange(len(order))
    k = len(frames)
    height = 0.8 / k
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(order) + 1.6), constrained_layout=True)
    palette = SERIES_COLOURS
    for i, (name, f) in enumerate(frames.items()):
        f = f.reindex(order)
        pos = y + (i - (k - 1) / 2) * height
        ax.barh(pos, f["p50"] / scale, height=height, color=palette[i % len(palette)], label=name)
        ax.errorbar(f["p50"] / scale, pos, xerr=[(f["p50"] - f["p5"]) / scale, (f["p95"] - f["p50"]) / scale],
                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    ax.set_yticks(y, order)
    ax.set_xlabel(f"经费需求 funding need（{unit}；条为中位数，须线为 P5–P95）")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def grouped_money_chart(summaries: dict[str, pd.DataFrame], prefix: str, *, title: str, scale: float = 10000,
                        unit: str = "万元/年") -> plt.Figure:
    """Items of one kind (``line:`` cost lines, ``funder:`` funders, ``total``) for each plan or scenario."""
    use_chinese_font()
    names = list(summaries)
    items = list(dict.fromkeys(summaries[names[0]].loc[summaries[names[0]]["item"].str.startswith(prefix), "label"]))
    x = np.arange(len(items))
    width = 0.8 / len(names)
    width_in = min(12, max(7, 1.6 * len(items) * max(1, len(names) / 2)))
    fig, ax = plt.subplots(figsize=(width_in, 4.6), constrained_layout=True)
    palette = SERIES_COLOURS
    for i, name in enumerate(names):
        f = summaries[name].set_index("label").reindex(items)
        pos = x + (i - (len(names) - 1) / 2) * width
        ax.bar(pos, f["p50"] / scale, width=width, color=palette[i % len(palette)], label=name)
        ax.errorbar(pos, f["p50"] / scale, yerr=[(f["p50"] - f["p5"]) / scale, (f["p95"] - f["p50"]) / scale],
                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    ax.set_xticks(x, [i.replace(" ", "\n", 1) for i in items])
    ax.set_ylabel(f"{unit}（中位数，须线 P5–P95）")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------------------------
# Workload and assessment (frames from gridsim.assessment.AssessmentResult / BudgetResult.grids)

SIZE_BINS = (0, 100, 200, 300, 400, 500, np.inf)


def visits_vs_capacity(grids: dict[str, pd.DataFrame], capacity: float, *, title: str = "") -> plt.Figure:
    """Per grid: households against the worker's visits due per month (``visits.worker_share`` of all), one panel per plan; the line is one worker's capacity."""
    use_chinese_font()
    fig, axes = plt.subplots(1, len(grids), figsize=(6 * len(grids), 4.6), constrained_layout=True, squeeze=False,
                             sharey=True)
    top = max(float(g["worker_visits_month"].max()) for g in grids.values()) * 1.1
    for ax, (name, g) in zip(axes.flat, grids.items()):
        for utype, colour in UNIT_TYPE_COLOURS.items():
            sel = g[g["unit_type"] == utype]
            ax.scatter(sel["households"], sel["worker_visits_month"], s=18, color=colour, alpha=0.7,
                       label=f"{UNIT_TYPE_ZH[utype]} {utype}")
        ax.axhline(capacity, color="black", ls="--", lw=1)
        ax.text(ax.get_xlim()[0], capacity, f" 每人每月走访能力 {capacity:g} 户次", va="bottom", fontsize=8)
        over = int((g["worker_visits_month"] > capacity).sum())
        ax.set_title(f"{name}：{len(g)} 个网格，{over} 个超出能力")
        ax.set_xlabel("网格户数 (households)")
        ax.set_ylim(0, max(top, capacity * 1.2))
        ax.legend(fontsize=8, loc="upper left")
    axes.flat[0].set_ylabel("每月应走访户次 (visits due per month)")
    if title:
        fig.suptitle(title)
    return fig


def score_histogram(distributions: dict[str, pd.DataFrame], policy, *, title: str = "") -> plt.Figure:
    """The distribution of monthly scores over all grid worker-months, one line per plan; the pass mark dashed.

    Scores move in half points. The legend gives each plan's unqualified share as the policy judges it
    ("60分以下", with or without 60 itself: ``assessment.unqualified_boundary``). Each grid's score shares
    are averaged with equal weight (every grid has a worker each month).
    """
    from .assessment import is_unqualified

    use_chinese_font()
    threshold = float(policy["assessment.unqualified_threshold"])
    word = "≤" if policy["assessment.unqualified_boundary"] == "inclusive" else "<"
    fig, ax = plt.subplots(figsize=(10, 4.2), constrained_layout=True)
    palette = SERIES_COLOURS
    for i, (name, d) in enumerate(distributions.items()):
        n_grids = d["grid_id"].nunique()
        share = d.groupby("score")["share"].sum().reindex(np.arange(201) / 2.0, fill_value=0.0) / max(n_grids, 1)
        below = share[is_unqualified(share.index.to_numpy(), policy)].sum()
        ax.step(share.index, share.values * 100, where="mid", color=palette[i % len(palette)], lw=1.5,
                label=f"{name}（得分{word}{threshold:g}分即不合格：{below:.2%}）")
    ax.axvline(threshold, color="#C44E52", ls="--", lw=1)
    ax.text(threshold, ax.get_ylim()[1] * 0.9, f" 不合格线 {threshold:g} 分（{'含' if word == '≤' else '不含'}{threshold:g}分）",
            color="#C44E52", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("月度考核得分（分） monthly score")
    ax.set_ylabel("占全部网格员·月的比例（%，对数刻度）")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return fig


RISK_COLUMNS = {"grids": "网格数 grids", "visit_load_ratio": "走访负荷（应访/能力）load",
                "p_unqualified_month": "月度不合格概率 P(unqualified month)",
                "p_criticism": "年度通报批评概率 P(criticism)", "p_termination": "年度终止协议概率 P(termination)"}


def risk_by_size(grids: pd.DataFrame, bins: Sequence[float] = SIZE_BINS) -> pd.DataFrame:
    """Grids grouped by households: their number, mean visit load and mean chances of the three outcomes."""
    labels = [f"{int(lo)}–{int(hi)}" if np.isfinite(hi) else f"{int(lo)}+" for lo, hi in zip(bins[:-1], bins[1:])]
    size = pd.cut(grids["households"], bins=list(bins), labels=labels, right=False)
    agg = grids.assign(size=size).groupby("size", observed=True).agg(
        grids=("households", "size"), visit_load_ratio=("visit_load_ratio", "mean"),
        p_unqualified_month=("p_unqualified_month", "mean"), p_criticism=("p_criticism", "mean"),
        p_termination=("p_termination", "mean"))
    return agg.rename(columns=RISK_COLUMNS).rename_axis("网格户数 households")


def risk_by_size_chart(grids: dict[str, pd.DataFrame], *, title: str = "") -> plt.Figure:
    """Per grid: the yearly chance of a public criticism and of termination against households, one colour per plan."""
    use_chinese_font()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True, sharex=True)
    palette = SERIES_COLOURS
    for ax, col, label in zip(axes, ("p_criticism", "p_termination"), ("通报批评 criticism", "终止服务协议 termination")):
        for i, (name, g) in enumerate(grids.items()):
            ax.scatter(g["households"], g[col] * 100, s=14, alpha=0.6, color=palette[i % len(palette)], label=name)
        ax.set_title(f"一年内{label}的概率")
        ax.set_xlabel("网格户数 (households)")
        ax.set_ylabel("概率（%）")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title)
    return fig


def scenario_key_figures(results: dict, capacity: float | None = None, year: int | None = None) -> pd.DataFrame:
    """One row per scenario (or plan): grids, annual money P5/P50/P95 and the assessment's expected outcomes.

    ``results`` maps a readable name to a :class:`gridsim.budget.BudgetResult`; money is for ``year``
    (default: the last simulated year). Expected criticisms and terminations per year are the sums over
    grids of each grid's yearly chance (averaged over the simulated years), i.e. the expected number of
    workers affected in a year.
    """
    rows = {}
    for name, res in results.items():
        summary = res.summary
        years = summary["year"].astype(int)
        s = summary[years == (years.max() if year is None else int(year))].set_index("item")
        g = res.grids
        row = {"网格数 grids": len(g)}
        row["合计 P5（元/年）"] = s.loc["total", "p5"]
        row["合计 P50（元/年）"] = s.loc["total", "p50"]
        row["合计 P95（元/年）"] = s.loc["total", "p95"]
        for item, label in (("line:base_pay", "基础工资"), ("funder:district", "区级"), ("funder:subdistrict", "街道")):
            if item in s.index:
                row[f"{label} P50（元/年）"] = s.loc[item, "p50"]
        rates = res.assessment.rates()
        row["月不合格比例 unqualified share"] = rates["unqualified"]
        row["年通报批评概率 P(criticism)"] = rates["criticism"]
        row["年终止协议概率 P(termination)"] = rates["termination"]
        row["通报批评（人次/年）criticisms"] = g["p_criticism"].sum()
        row["终止协议（人次/年）terminations"] = g["p_termination"].sum()
        if capacity is not None:
            row["超出走访能力的网格 over capacity"] = int((g["worker_visits_month"] > capacity).sum())
        rows[name] = row
    return pd.DataFrame(rows).T.rename_axis("情景 scenario")


def differences_from_first(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Each row's change from the first row (the baseline), absolute and in percent, for ``columns``."""
    base = table.iloc[0]
    out = {}
    for c in columns:
        out[f"{c} 变化 change"] = table[c] - base[c]
        out[f"{c} 变化 %"] = (table[c] / base[c] - 1) if base[c] else np.nan
    return pd.DataFrame(out, index=table.index).iloc[1:]
