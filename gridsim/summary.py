"""The leader's summary of one scenario: the answer in numbers, one table, one chart, sentences made from them.

A leader wants one page: how many grids before and after (by unit type), how many households a grid
holds, what it costs a year (median with its 90% band, by funder), how often a grid worker fails the
monthly assessment, is publicly criticised or loses the contract (三(六)), and what the scenario changes
against the baseline. :func:`summarize` computes those numbers from the scenario's plan (the one every
page of the report shows), today's map and, for a variant, the baseline's plan; :func:`sentences` turns
them into a few sentences — every number and every comparison word (多/少, 增/减) comes from the
figures, nothing is written by hand; :func:`summary_table` and :func:`summary_chart` give the table and
the chart; :func:`write_pdf` puts the four on one A4 page (:func:`gridsim.summary_pdf.write_summary_pdf`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .plotting import UNIT_TYPE_ZH, use_chinese_font

TYPES = ("community", "village")
TODAY, PLAN, BASELINE = "现状网格 today", "本情景方案 scenario plan", "基线方案 baseline plan"
FUNDING_ITEMS = {"total": "合计 total", "funder:district": "区级 district", "funder:subdistrict": "街道 subdistrict"}
RATE_LABELS = {"unqualified": "月度考核不合格比例 unqualified share",
               "criticism": "一年内通报批评概率 P(criticism)", "termination": "一年内终止协议概率 P(termination)"}
WAN = 10000.0


@dataclass
class PlanFigures:
    """The numbers of one plan under one policy."""

    grids: dict[str, int]  # per unit type and "total"
    households_per_grid: dict[str, float]  # mean registered (社区: planned) households per grid, per type and total
    funding: pd.DataFrame  # index FUNDING_ITEMS keys; columns p5, p50, p95 (yuan per year)
    rates: dict[str, float]  # AssessmentResult.rates()
    violations: int  # rule breaks (三(一)) of the plan


@dataclass
class ScenarioSummary:
    scenario: str
    title: str
    plans: dict[str, PlanFigures]  # TODAY (when the register has today's grids), PLAN, BASELINE (for a variant)
    overrides: dict[str, tuple] = field(default_factory=dict)  # key: (baseline value, scenario value)
    labels: dict[str, str] = field(default_factory=dict)  # key: Chinese label
    year: int = 0
    draws: int = 0


def plan_figures(plan, policy, *, draws: int, seed: int, cases=None, unit_names=None,
                 result_cache: str = "") -> PlanFigures:
    """Grids, households per grid, yearly funding and assessment rates of ``plan`` under ``policy``; the
    simulation goes through the report's result cache when ``result_cache`` names one
    (:func:`gridsim.result_cache.scenario_budget`: the budget and assessment pages price the same plan)."""
    from .result_cache import scenario_budget

    tallies = plan.with_policy(policy).tallies()
    grids = {t: int((tallies["unit_type"] == t).sum()) for t in TYPES}
    grids["total"] = len(tallies)
    per = {t: float(tallies.loc[tallies["unit_type"] == t, "households"].mean()) if grids[t] else float("nan")
           for t in TYPES}
    per["total"] = float(tallies["households"].mean()) if len(tallies) else float("nan")
    budget = scenario_budget(plan, policy, draws=draws, seed=seed, cases=cases, unit_names=unit_names,
                             cache_dir=result_cache)
    s = budget.summary
    s = s[s["year"].astype(int) == int(s["year"].astype(int).min())].set_index("item")
    funding = s.loc[list(FUNDING_ITEMS), ["p5", "p50", "p95"]].astype(float)
    return PlanFigures(grids, per, funding, budget.assessment.rates(), int((~tallies["ok"]).sum()))


def summarize(plan, policy, *, today=None, baseline_plan=None, baseline_policy=None, draws: int = 500,
              seed: int = 0, cases=None, unit_names=None, result_cache: str = "") -> ScenarioSummary:
    """The summary of a scenario: its ``plan`` under ``policy``; ``today`` (today's map, priced with the
    observed ``cases``) and, for a variant, the baseline's plan under the baseline policy beside it.
    ``result_cache``: see :func:`plan_figures`."""
    figures = {}
    if today is not None:
        figures[TODAY] = plan_figures(today, policy, draws=draws, seed=seed, cases=cases, unit_names=unit_names,
                                      result_cache=result_cache)
    figures[PLAN] = plan_figures(plan, policy, draws=draws, seed=seed, unit_names=unit_names,
                                 result_cache=result_cache)
    overrides = policy.overridden()
    if overrides and baseline_plan is not None:
        figures[BASELINE] = plan_figures(baseline_plan, baseline_policy, draws=draws, seed=seed, unit_names=unit_names,
                                         result_cache=result_cache)
    from .assessment import horizon

    return ScenarioSummary(policy.scenario.id, policy.scenario.title, figures, overrides,
                           {k: policy.param(k).label for k in overrides}, int(horizon(policy)[0].year), draws)


# ---------------------------------------------------------------------------------------------------
# Words from numbers


def _wan(yuan: float) -> str:
    return f"{yuan / WAN:,.1f}"


def _more_less(delta: float, unit: str, fmt: str = "{:,.1f}") -> str:
    """'多 3.2 万元' / '少 3.2 万元' / '相同' from a signed difference."""
    if round(delta, 6) == 0:
        return "持平"
    return ("多" if delta > 0 else "少") + " " + fmt.format(abs(delta)) + " " + unit


def _show(value) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return "、".join(map(str, value))
    return str(value)


def sentences(s: ScenarioSummary) -> list[str]:
    """A few Chinese sentences, each stating numbers of ``s`` (no claim that the numbers do not carry)."""
    p = s.plans[PLAN]
    out = []
    types = [t for t in TYPES if p.grids[t] or (TODAY in s.plans and s.plans[TODAY].grids[t])]
    if TODAY in s.plans:
        t = s.plans[TODAY]
        parts = "，".join(f"{UNIT_TYPE_ZH[u]} {t.grids[u]}→{p.grids[u]}" for u in types)
        out.append(f"本情景（{s.title}）的优化方案把网格由现状 {t.grids['total']} 个调整为 {p.grids['total']} 个"
                   f"（{parts}），{_more_less(p.grids['total'] - t.grids['total'], '个', '{:.0f}').replace('多', '增加').replace('少', '减少')}。")
    else:
        parts = "，".join(f"{UNIT_TYPE_ZH[u]} {p.grids[u]} 个" for u in types)
        out.append(f"本情景（{s.title}）的优化方案共 {p.grids['total']} 个网格（{parts}）；登记册没有现网格，无法与现状比较。")
    hh = "，".join(f"{UNIT_TYPE_ZH[u]} {p.households_per_grid[u]:.0f} 户" for u in types)
    out.append(f"优化后每个网格平均 {p.households_per_grid['total']:.0f} 户（{hh}）；"
               + (f"{p.violations} 个网格仍不符合方案三(一)的规则。" if p.violations
                  else "全部网格符合方案三(一)的户数、不跨村社与连片规则。"))
    f = p.funding
    line = (f"{s.year} 年经费需求中位数 {_wan(f.at['total', 'p50'])} 万元（90% 的模拟落在 {_wan(f.at['total', 'p5'])}–"
            f"{_wan(f.at['total', 'p95'])} 万元之间），其中区级 {_wan(f.at['funder:district', 'p50'])} 万元、"
            f"街道 {_wan(f.at['funder:subdistrict', 'p50'])} 万元")
    if TODAY in s.plans:
        d = (f.at["total", "p50"] - s.plans[TODAY].funding.at["total", "p50"]) / WAN
        line += f"；比现状网格{_more_less(d, '万元')}"
    out.append(line + "。")
    r = p.rates
    out.append(f"按月度扣分制考核（三(六)），网格员·月中不合格的比例为 {r['unqualified']:.2%}，"
               f"每个网格员一年内被通报批评的概率为 {r['criticism']:.1%}，被终止服务协议的概率为 {r['termination']:.1%}。")
    if not s.overrides:
        out.append("本情景为基线：方案原文加基线假设，没有改动任何参数。")
    else:
        changes = "；".join(f"{s.labels.get(k, k)}（{k}）{_show(a)}→{_show(b)}" for k, (a, b) in s.overrides.items())
        line = f"与基线相比，本情景改动了 {len(s.overrides)} 项参数：{changes}"
        if BASELINE in s.plans:
            b = s.plans[BASELINE]
            dg = p.grids["total"] - b.grids["total"]
            dm = (f.at["total", "p50"] - b.funding.at["total", "p50"]) / WAN
            rel = dm * WAN / b.funding.at["total", "p50"] if b.funding.at["total", "p50"] else float("nan")
            du = (r["unqualified"] - b.rates["unqualified"]) * 100
            line += (f"。结果：网格数比基线{_more_less(dg, '个', '{:.0f}')}，全年经费中位数比基线{_more_less(dm, '万元')}"
                     f"（{rel:+.1%}），不合格比例比基线{_more_less(du, '个百分点', '{:.2f}')}")
        out.append(line + "。")
    return out


# ---------------------------------------------------------------------------------------------------
# The table and the chart


def summary_table(s: ScenarioSummary) -> pd.DataFrame:
    """One row per figure, one column per plan (today, the scenario's plan, the baseline's)."""
    rows = {}
    for name, p in s.plans.items():
        col = {}
        for t in (*TYPES, "total"):
            label = "合计" if t == "total" else UNIT_TYPE_ZH[t]
            col[f"网格数（{label}）grids"] = f"{p.grids[t]}"
        for t in (*TYPES, "total"):
            label = "全部" if t == "total" else UNIT_TYPE_ZH[t]
            v = p.households_per_grid[t]
            col[f"每网格户数（{label}）households/grid"] = "—" if np.isnan(v) else f"{v:.0f}"
        col["不符合规则的网格 grids breaking rules"] = f"{p.violations}"
        f = p.funding
        col["全年经费 P50（万元）"] = _wan(f.at["total", "p50"])
        col["全年经费 P5–P95（万元）"] = f"{_wan(f.at['total', 'p5'])}–{_wan(f.at['total', 'p95'])}"
        col["区级 P50（万元）"] = _wan(f.at["funder:district", "p50"])
        col["街道 P50（万元）"] = _wan(f.at["funder:subdistrict", "p50"])
        for k, label in RATE_LABELS.items():
            col[label] = f"{p.rates[k]:.2%}"
        rows[name] = col
    table = pd.DataFrame(rows)
    table.index.name = "指标 figure"
    return table


def summary_chart(s: ScenarioSummary) -> plt.Figure:
    """Left: grids by unit type per plan; right: yearly funding by funder, median bars with P5–P95 whiskers."""
    use_chinese_font()
    names = list(s.plans)
    colours = {TODAY: "#9a9a9a", PLAN: "#2f6db5", BASELINE: "#e08a2c"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
    width = 0.8 / len(names)
    x = np.arange(len(TYPES))
    for i, name in enumerate(names):
        vals = [s.plans[name].grids[t] for t in TYPES]
        bars = ax1.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, color=colours[name], label=name)
        ax1.bar_label(bars, fontsize=8)
    ax1.set_xticks(x, [UNIT_TYPE_ZH[t] for t in TYPES])
    ax1.set_ylabel("网格数（个）")
    ax1.set_title("网格数：按村社类型", fontsize=11)
    items = list(FUNDING_ITEMS)
    x = np.arange(len(items))
    for i, name in enumerate(names):
        f = s.plans[name].funding.loc[items] / WAN
        pos = x + (i - (len(names) - 1) / 2) * width
        ax2.bar(pos, f["p50"], width, color=colours[name], label=name)
        ax2.errorbar(pos, f["p50"], yerr=[f["p50"] - f["p5"], f["p95"] - f["p50"]], fmt="none", ecolor="#333",
                     capsize=3, linewidth=1)
    ax2.set_xticks(x, [FUNDING_ITEMS[k] for k in items])
    ax2.set_ylabel("万元/年")
    ax2.set_title(f"{s.year} 年经费需求：中位数与 P5–P95", fontsize=11)
    for ax in (ax1, ax2):
        ax.spines[["top", "right"]].set_visible(False)
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(names), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def write_pdf(s: ScenarioSummary, path, *, footer: str = ""):
    """The summary as one A4 page (title, sentences, chart, table)."""
    from .summary_pdf import write_summary_pdf

    fig = summary_chart(s)
    try:
        return write_summary_pdf(path, f"{s.title}（{s.scenario}）— 网格化服务管理模拟摘要", sentences(s),
                                 summary_table(s).reset_index(), fig, footer=footer)
    finally:
        plt.close(fig)
