"""Figures and tables of a sensitivity analysis for the notebooks (07), with Chinese labels.

Kept apart from :mod:`gridsim.sensitivity` (which computes) and :mod:`gridsim.plotting` (the other pages'
figures); every figure calls :func:`gridsim.plotting.use_chinese_font`. Money is shown in 万元.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .plotting import use_chinese_font
from .sweep import BANDED, OUTPUTS, Factor

WAN = 10000.0
LOW_COLOUR, HIGH_COLOUR = "#4C72B0", "#DD8452"
KIND_ZH = {"empirical": "经验假设", "choice": "决策取值", "reading": "原文解读", "rule": "方案规则"}


def _is_money(output: str) -> bool:
    return output.split("_")[0] in BANDED


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1 or v == 0 else f"{v:.3g}"


def factor_table(policy, factors: Sequence[Factor]) -> pd.DataFrame:
    """The factors of an analysis: what each is, its kind, unit, baseline and the interval it varies over."""
    rows = []
    for f in factors:
        p = policy.param(f.key)
        rows.append({"参数 key": f.key, "名称 label": p.label, "类别 kind": KIND_ZH.get(p.kind, p.kind),
                     "单位 unit": p.unit, "基线 baseline": _fmt(f.baseline), "低 low": _fmt(f.low), "高 high": _fmt(f.high)})
    return pd.DataFrame(rows)


def tornado_chart(result, output: str = "total_p50", *, top: int = 12, title: str = "") -> plt.Figure:
    """Bars from the baseline run's value to the value at each factor's low end (blue) and high end (orange),
    largest swing at the top; money in 万元."""
    use_chinese_font()
    t = result.table[result.table["output"] == output].nlargest(top, "swing").iloc[::-1]
    scale = WAN if _is_money(output) else 1.0
    base = t["base"].iloc[0] / scale if len(t) else 0.0
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(t) + 1.4), constrained_layout=True)
    y = np.arange(len(t))
    ax.barh(y, t["at_low"] / scale - base, left=base, color=LOW_COLOUR, label="取低值 at low end")
    ax.barh(y, t["at_high"] / scale - base, left=base, color=HIGH_COLOUR, alpha=0.85, label="取高值 at high end")
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(y, [f"{r.label}（{_fmt(r.low)}–{_fmt(r.high)}）" for r in t.itertuples()], fontsize=8)
    ax.set_xlabel(OUTPUTS.get(output, output).replace("（元）", "（万元/年）"))
    ax.set_title(title or f"单因素敏感性：{OUTPUTS.get(output, output)}")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def sobol_chart(result, output: str = "total_p50", *, top: int = 12, title: str = "") -> plt.Figure:
    """First-order (S1) and total (ST) Sobol indices per factor with their confidence intervals, largest ST
    at the top."""
    use_chinese_font()
    t = result.table[result.table["output"] == output].dropna(subset=["ST"]).nlargest(top, "ST").iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(t) + 1.4), constrained_layout=True)
    y = np.arange(len(t))
    conf = result.meta.get("conf_level", 0.95)
    ax.barh(y + 0.2, t["ST"], height=0.4, xerr=t["ST_conf"], color=HIGH_COLOUR, capsize=2, label="总效应 ST")
    ax.barh(y - 0.2, t["S1"], height=0.4, xerr=t["S1_conf"], color=LOW_COLOUR, capsize=2, label="一阶 S1")
    ax.set_yticks(y, t["label"], fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"Sobol 指数（误差线为 {conf:.0%} 置信区间）")
    ax.set_title(title or f"Sobol 全局敏感性：{OUTPUTS.get(output, output)}（N = {result.meta.get('samples')}）")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def knob_chart(result, key: str, outputs: Sequence[str] = ("total", "subdistrict", "district"), *,
               line: float | None = None, break_even: pd.DataFrame | None = None, aside: bool = True,
               title: str = "") -> plt.Figure:
    """Money against one knob: the median of each funder's yearly bill with its P5–P95 band (万元), the
    budget ``line`` and the break-even values; beside it (``aside``) the grid count and the unqualified share."""
    use_chinese_font()
    t = result.table.sort_values(key)
    x = t[key].to_numpy(float)
    if aside:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True,
                                      gridspec_kw={"width_ratios": [3, 2]})
    else:
        fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    palette = plt.get_cmap("tab10").colors
    for i, out in enumerate(outputs):
        ax.fill_between(x, t[f"{out}_p5"] / WAN, t[f"{out}_p95"] / WAN, color=palette[i], alpha=0.2, lw=0)
        ax.plot(x, t[f"{out}_p50"] / WAN, color=palette[i], marker="o", ms=3, label=f"{BANDED[out]}（P5–P95）")
    if line is not None:
        ax.axhline(line / WAN, color="black", ls="--", lw=1, label=f"界线 line {line / WAN:g} 万元")
    if break_even is not None:
        for r in break_even.dropna(subset=["value"]).itertuples():
            ax.axvline(r.value, color="grey", lw=1)
            if not np.isnan(r.band_low):
                ax.axvspan(r.band_low, r.band_high, color="grey", alpha=0.12)
    label = f"{result.meta.get('knob_labels', {}).get(key, key)}（{key}）"
    ax.set_xlabel(label)
    ax.set_ylabel("万元/年")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(title or f"政策旋钮：{label}")
    if not aside:
        return fig
    ax2.step(x, t["grids"], where="mid", color="black", label="网格数 grids")
    ax2.set_xlabel(label)
    ax2.set_ylabel("网格数（个）")
    ax3 = ax2.twinx()
    ax3.plot(x, 100 * t["unqualified"], color=palette[3], marker="o", ms=3, label="月度不合格比例 %")
    ax3.set_ylabel("月度不合格比例（%）")
    ax2.legend(handles=ax2.get_legend_handles_labels()[0] + ax3.get_legend_handles_labels()[0], fontsize=8,
               loc="upper right")
    return fig


def knob_table(result) -> pd.DataFrame:
    """A knob sweep per point, for reading: grids, violations, money by funder (万元, P50 with P5–P95) and rates."""
    t = result.table
    knobs = result.meta.get("knobs", [])
    out = t[knobs].copy()
    out["网格数 grids"] = t["grids"].astype(int)
    out["违反规则 violations"] = t["violations"].astype(int)
    for who, name in BANDED.items():
        out[f"{name}（万元）"] = [f"{m / WAN:,.1f}（{lo / WAN:,.1f}–{hi / WAN:,.1f}）"
                              for m, lo, hi in zip(t[f"{who}_p50"], t[f"{who}_p5"], t[f"{who}_p95"])]
    out["不合格 unqualified"] = (100 * t["unqualified"]).map(lambda v: f"{v:.2f}%")
    out["通报批评 criticism"] = (100 * t["criticism"]).map(lambda v: f"{v:.2f}%")
    out["终止协议 termination"] = (100 * t["termination"]).map(lambda v: f"{v:.2f}%")
    return out


def break_even_table(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Break-even answers side by side: the knob, the output and its line, the value where the median
    crosses it and the band where the P5 and P95 curves do."""
    rows = []
    for frame in frames:
        for r in frame.itertuples():
            money = r.output in BANDED
            rows.append({"旋钮 knob": r.knob, "输出 output": r.output_label,
                         "界线 line": f"{r.line / WAN:g} 万元" if money else _fmt(r.line),
                         "平衡点 break-even": "—" if np.isnan(r.value) else f"{r.value:.4g}",
                         "区间 band (P5/P95)": "—" if np.isnan(r.band_low) else f"{r.band_low:.4g} – {r.band_high:.4g}",
                         "说明 note": r.note})
    return pd.DataFrame(rows)
