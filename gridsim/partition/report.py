"""Outputs of a partition run: the plan CSV, a per-grid summary CSV and a Chinese report beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..plan import SUMMARY_LABELS
from ..workload import COLUMNS_ZH, workload

UNIT_LABELS = {
    "unit_id": "村社 unit", "unit_type": "类型 type", "homes": "住户数 homes", "households": "户数 households",
    "lower_bound": "下界 lower bound", "upper_bound": "上界 upper bound", "grids": "网格数 grids",
    "gap": "距下界 gap", "violations": "违规数 violations", "feasible": "可行 feasible",
    "cut_edges": "切边 cut edges", "split_groups": "拆分组 groups split", "moved_households": "调整户数 moved",
    "max_hours_month": "最大月工时 max hours/month",
}
MODE_LABELS = {"fewest": "最少网格 fewest", "repair": "修复现网格 repair", "fixed": "指定网格数 fixed"}


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def render(result) -> str:
    """The Chinese report (markdown): totals, per-unit bounds and gaps, diagnoses, every violation."""
    plan, units = result.plan, result.units
    pol = plan.policy
    viol = plan.violations_frame()
    lines = [
        "# 网格划分报告 (grid partition report)",
        "",
        f"- 模式 mode：{MODE_LABELS[result.mode]}；随机种子 seed：{result.seed}；用时 time：{result.seconds:.1f} 秒",
        f"- 政策情景 scenario：{pol.scenario.id}（{pol.scenario.title}）",
        f"- 社区网格：{plan.unit_rules('community').describe()}",
        f"- 村网格：{plan.unit_rules('village').describe()}，不得户内分户"
        f"（计户口径 count basis：{pol['grid.village.count_basis']}）",
        f"- 网格不跨村社：{'是' if pol['grid.within_unit'] else '否（已关闭）'}；网格连片：{'是' if pol['grid.contiguous'] else '否（已关闭）'}",
        f"- 网格总数 grids：{plan.n_grids()}（各村社下界之和 sum of lower bounds：{int(units['lower_bound'].sum())}）；"
        f"违规 violations：{len(viol)}；切边 cut edges：{plan.cut_edges()}",
    ]
    if pol["workload.ceiling_applies"]:
        lines.append(f"- 网格月工时上限 workload ceiling：{pol['workload.ceiling_hours_month']:g} 小时（走访、行走、固定事务，"
                     f"gridsim.workload；工时均衡为网格数之后的目标）")
    if result.current:
        lines.append(f"- 与现网格（{result.current}）相比调整户数 households moved：{int(units['moved_households'].sum())}")
    if result.hit_time_limit:
        lines.append("- 注意：达到时间上限，搜索提前结束，结果可能随机器速度不同 (time limit reached)")
    lines += ["", "## 各村社 (per unit)", "",
              "下界：住户不可分时至少需要的网格数（装箱下界），小片区经穷举搜索得出的最少合规网格数替代之；"
              "上界：常住户（村为户数）最多够多少个网格达到下限 (lower bound: bin packing of indivisible homes, "
              "or the proven minimum where the exact search settled it; upper bound: grids the floor allows)", "",
              _md_table(units[[c for c in UNIT_LABELS if c in units and units[c].notna().any()]]
                        .rename(columns=UNIT_LABELS))]
    lines += ["", "## 诊断 (diagnoses)", ""]
    lines += [f"- {d.message}" for d in result.diagnoses] or ["- 所有村社均可满足全部规则 (every unit can meet every rule)"]
    lines += ["", "## 违规清单 (violations)", ""]
    lines += [f"- [{v.rule}] {v.message}" for v in viol.itertuples()] or ["- 无 (none)"]
    return "\n".join(lines) + "\n"


def with_hours(plan, roads=None) -> pd.DataFrame:
    """:meth:`~gridsim.plan.Plan.summary` with each grid's hours a month (:func:`gridsim.workload.workload`,
    walking along ``roads`` when given): ``hours_month``, ``visit_hours``, ``walk_hours``, ``fixed_hours``,
    ``walk_km``, ``circuity``."""
    hours = workload(plan, roads=roads)[["hours_month", "visit_hours", "walk_hours", "fixed_hours", "walk_km",
                                         "circuity"]].round(2)
    return plan.summary().merge(hours, left_on="grid_id", right_index=True, how="left")


def paths_for(out: str | Path) -> dict[str, Path]:
    out = Path(out)
    stem = out.with_suffix("")
    return {"plan": out, "summary": Path(f"{stem}_summary.csv"), "report": Path(f"{stem}_report.md")}


def write(result, out: str | Path, roads=None) -> dict[str, Path]:
    """Write the plan, the per-grid summary (bilingual headers, hours along ``roads`` when given) and the
    report; return their paths."""
    paths = paths_for(out)
    paths["plan"].parent.mkdir(parents=True, exist_ok=True)
    result.plan.to_csv(paths["plan"])
    summary = with_hours(result.plan, roads)
    summary.rename(columns={**SUMMARY_LABELS, **COLUMNS_ZH}).to_csv(paths["summary"], index=False, encoding="utf-8-sig")
    paths["report"].write_text(render(result), encoding="utf-8")
    return paths
