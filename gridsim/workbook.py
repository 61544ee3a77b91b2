"""The funding need as finance reads it: ``budget.xlsx`` (Chinese headers, numbers as numbers, a 参数 sheet
with every parameter and the run's facts) and ``grids.csv``, ``summary.csv``, ``assessment.csv``.

Kept apart from the simulation (:mod:`gridsim.budget`): this module only lays out a
:class:`~gridsim.budget.BudgetResult`. All files of one call appear together or none do, and the workbook
is byte-identical for identical inputs (fixed document properties).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from .budget import QUANTILES, BudgetResult
from .errors import GridsimError

#: the workbook's document date: fixed, so reruns give identical files
DOCUMENT_DATE = _dt.datetime(2024, 1, 31)

GRID_COLUMNS = {  # csv name -> (Chinese header with unit, number format)
    "grid_id": ("网格编号 grid", None), "unit_id": ("村社编号 unit", None), "unit_name": ("村社 unit name", None),
    "unit_type": ("类型 type", None), "homes": ("住房数（处）homes", "int"), "households": ("登记户数（户）households", "int"),
    "counted_households": ("规则计数户数（户）counted", "int"),
    "resident_households": ("常住户数（户）resident", "int"), "key_households": ("五必访户数（户）key", "int"),
    "basis_households": ("计薪户数（户）pay basis", "int"), "base_pay_month": ("基础工资（元/月）base pay", "yuan"),
    "visits_due_month": ("应走访（户次/月）visits due", "int"),
    "worker_visits_month": ("网格员承担走访（户次/月）worker's visits", "int"),
    "visit_load_ratio": ("走访负荷（网格员应访/能力）load", "ratio"),
    "expected_base_pay_year": ("期望实发基础工资（元/年）", "yuan"),
    "expected_performance_pay_year": ("期望办件绩效（元/年）", "yuan"),
    "expected_deduction_yuan_year": ("期望扣减（元/年）", "yuan"),
    "expected_vacant_months_year": ("期望空缺（月/年）", "dec"),
    "rule_violations": ("违反规则（三(一)）rule violations", None),
}
ASSESSMENT_COLUMNS = {
    "grid_id": ("网格编号 grid", None), "unit_id": ("村社编号 unit", None), "unit_name": ("村社 unit name", None),
    "p_unqualified_month": ("月度不合格概率（每在岗月）", "pct"), "p_criticism": ("年度通报批评概率", "pct"),
    "p_termination": ("年度终止协议概率", "pct"), "mean_score": ("平均月度得分（分）", "dec"),
    "score_p5": ("月度得分P5（分）", "dec"), "expected_deduction_points_month": ("期望扣分（分/月）", "dec"),
    "expected_deduction_yuan_year": ("期望扣减（元/年）", "yuan"),
    "expected_vacant_months_year": ("期望空缺（月/年）", "dec"), "visit_load_ratio": ("走访负荷（网格员应访/能力）", "ratio"),
    "expected_leader_findings_year": ("期望网格长弄虚作假被查处（次/年）", "dec"),
}
MONTHLY_ASSESSMENT_COLUMNS = {
    "period": ("月份 month", None), "mean_score": ("平均得分（分）", "dec"), "share_unqualified": ("不合格比例", "pct"),
    "expected_criticisms": ("期望通报批评（人次）", "dec"), "expected_terminations": ("期望终止协议（人次）", "dec"),
    "expected_vacant_grids": ("期望空缺网格（个）", "dec"),
    "expected_leader_findings": ("期望网格长弄虚作假被查处（次）", "dec"),
}


def _band_columns(unit: str) -> dict:
    cols = {"period": ("期间 period", None), "item": ("项目 item", None), "label": ("名称 label", None)}
    cols.update({f"p{p}": (f"P{p}（{unit}）", "yuan") for p in QUANTILES})
    cols["mean"] = (f"均值（{unit}）", "yuan")
    return cols


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _shown(value, kind) -> str:
    """Roughly the text Excel shows for a cell, to size the column."""
    if kind and isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


def _write_sheet(wb, name: str, df: pd.DataFrame, columns: dict, fmts: dict) -> None:
    """One sheet: Chinese headers, numbers as numbers with formats, frozen header, widths fit for Chinese text."""
    ws = wb.add_worksheet(name)
    widths: dict[int, int] = {}
    _write_block(ws, 0, df, columns, fmts, widths)
    for j, width in widths.items():
        ws.set_column(j, j, width)
    ws.freeze_panes(1, 0)
    ws.set_paper(9)  # A4, landscape, one page wide, the header row on every page: finance prints these
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)


def write_budget(result: BudgetResult, out_dir: str | Path, policy, sensitivity=None) -> list[Path]:
    """Write ``budget.xlsx`` and the CSVs into ``out_dir``; all files appear together or none do.

    ``sensitivity``: a :class:`~gridsim.sweep.SweepResult` to add as the 敏感性 sheet. Files are written
    into a temporary folder beside ``out_dir`` and moved in at the end.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GridsimError(f"输出路径不是目录 (output path is not a directory): {out_dir}")
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".budget-", dir=parent))
    try:
        grids = result.grids.reset_index()
        grids[list(GRID_COLUMNS)].round(4).to_csv(tmp / "grids.csv", index=False, encoding="utf-8")
        result.summary[["item", "p5", "p50", "p95", "mean", "year", "label"]].round(2).to_csv(
            tmp / "summary.csv", index=False, encoding="utf-8")
        grids[list(ASSESSMENT_COLUMNS)].round(6).to_csv(tmp / "assessment.csv", index=False, encoding="utf-8")
        _write_workbook(result, tmp / "budget.xlsx", policy, grids, sensitivity)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for f in sorted(tmp.iterdir()):
            os.replace(f, out_dir / f.name)
            written.append(out_dir / f.name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _formats(wb) -> dict:
    return {"header": wb.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"}),
            "yuan": wb.add_format({"num_format": "#,##0"}), "int": wb.add_format({"num_format": "0"}),
            "dec": wb.add_format({"num_format": "0.00"}), "pct": wb.add_format({"num_format": "0.00%"}),
            "ratio": wb.add_format({"num_format": "0.00"}), "num": wb.add_format({"num_format": "0.0000"})}


def _write_workbook(result: BudgetResult, path: Path, policy, grids: pd.DataFrame, sensitivity=None) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": "网格化服务管理经费需求 funding need", "created": DOCUMENT_DATE})
    fmts = _formats(wb)
    b = result.bands
    year = b[(b["freq"] == "year") & (b["dimension"] != "unit_line")]
    _write_sheet(wb, "汇总", year, _band_columns("元/年"), fmts)
    for name, freq, unit in (("月度", "month", "元/月"), ("季度", "quarter", "元/季度")):
        sel = b[(b["freq"] == freq) & b["dimension"].isin(["total", "line", "funder"])]
        _write_sheet(wb, name, sel, _band_columns(unit), fmts)
    _write_sheet(wb, "村社月度", b[(b["freq"] == "month") & (b["dimension"] == "unit")], _band_columns("元/月"), fmts)
    _write_sheet(wb, "村社分项", b[(b["freq"] == "year") & (b["dimension"] == "unit_line")], _band_columns("元/年"), fmts)
    _write_sheet(wb, "网格", grids, GRID_COLUMNS, fmts)
    _write_sheet(wb, "考核", grids, ASSESSMENT_COLUMNS, fmts)
    _write_sheet(wb, "考核月度", result.assessment.monthly, MONTHLY_ASSESSMENT_COLUMNS, fmts)
    table = policy.table()
    m = result.meta
    run = pd.DataFrame([
        ("run.scenario", "情景 scenario", f"{m['scenario']}（{m['scenario_title']}）"),
        ("run.seed", "随机种子 seed", str(m["seed"])), ("run.draws", "抽样次数 draws", str(m["draws"])),
        ("run.version", "gridsim 版本 version", m["version"]),
        ("run.horizon", "模拟期 horizon", f"{m['year']}年起 {m['years']} 年 (years)"),
        ("run.plan", "网格方案 plan", "现网格 today's map" if m["plan"] == "today" else "给定方案 given plan"),
        ("run.grids", "网格数 grids", str(m["grids"])),
        ("run.cases", "办件来源 cases", "实际办件 observed" if m["cases_source"] == "observed" else "模拟 simulated"),
        ("run.uncertain", "参数不确定性 parameter uncertainty", "是 yes" if m["uncertain"] else "否 no"),
        ("run.priced_from", "计价起始月 priced from", m["priced_from"]),
        ("run.violations", "方案违反规则数 rule violations of the plan", str(m["violations"])),
        *[(f"run.warning{i + 1}", "警告 warning", w) for i, w in enumerate(result.warnings)],
    ], columns=["参数 key", "名称 label", "取值 value"])
    params = pd.concat([run, table], ignore_index=True)
    _write_sheet(wb, "参数", params, {c: (c, None) for c in params.columns}, fmts)
    if sensitivity is not None:
        write_sensitivity_sheet(wb, sensitivity, fmts)
    wb.close()


SENSITIVITY_COLUMNS = {  # column -> (Chinese header, number format); each mode shows those it has
    "output_label": ("输出 output", None), "label": ("参数 parameter", None), "key": ("参数键 key", None),
    "low": ("低值 low", "num"), "high": ("高值 high", "num"), "baseline": ("基线值 baseline", "num"),
    "base": ("基线结果 at baseline", "num"), "at_low": ("低值时 at low", "num"), "at_high": ("高值时 at high", "num"),
    "swing": ("摆幅 swing |高−低|", "num"),
    "mu_star": ("μ*（平均绝对基本效应）", "num"), "mu_star_conf": ("μ* 置信区间半宽 ±", "num"),
    "mu": ("μ", "num"), "sigma": ("σ（非线性/交互）", "num"),
    "S1": ("一阶指数 S1", "num"), "S1_conf": ("S1 置信区间半宽 ±", "num"),
    "ST": ("总效应指数 ST", "num"), "ST_conf": ("ST 置信区间半宽 ±", "num"),
}
KNOB_COLUMNS = {
    "plan": ("网格方案 plan", None), "grids": ("网格数 grids", "int"), "violations": ("违反规则处数 violations", "int"),
    "diagnoses": ("无法全部合规的村社数 units not fully legal", "int"),
    **{f"{who}_{q}": (f"{name} {q.upper()}（元/年）", "yuan") for who, name in
       (("total", "合计 total"), ("district", "区级 district"), ("subdistrict", "街道 subdistrict"))
       for q in ("p5", "p50", "p95")},
    "unqualified": ("月度不合格比例 unqualified", "pct"), "criticism": ("年度通报批评概率 criticism", "pct"),
    "termination": ("年度终止协议概率 termination", "pct"),
}
BREAK_EVEN_COLUMNS = {
    "output_label": ("输出 output", None), "line": ("界线 line", "num"), "knob": ("旋钮 knob", None),
    "by": ("分组旋钮 by", None), "by_value": ("分组取值 by value", None), "value": ("平衡点（中位数）break-even", "num"),
    "band_low": ("区间低 band low (P5/P95)", "num"), "band_high": ("区间高 band high (P5/P95)", "num"),
    "note": ("说明 note", None),
}
MODE_TITLES = {"tornado": "单因素敏感性（龙卷风图）one-at-a-time (tornado)", "morris": "Morris 筛选 screening",
               "sobol": "Sobol 全局敏感性指数 global indices", "knob": "政策旋钮扫描 policy-knob sweep"}


def write_sensitivity_sheet(wb, sweeps, fmts: dict) -> None:
    """The 敏感性 sheet: for each :class:`~gridsim.sweep.SweepResult` (one, or a list stacked top to bottom)
    a line saying what was run (mode, scenario, seed, draws per run, sample size), its table and, for a
    knob sweep asked for one, the break-even table."""
    ws = wb.add_worksheet("敏感性")
    row, widths = 0, {}
    for sweep in (sweeps if isinstance(sweeps, (list, tuple)) else [sweeps]):
        m = sweep.meta
        facts = [f"{MODE_TITLES.get(sweep.mode, sweep.mode)}", f"情景 scenario: {m.get('scenario', '')}",
                 f"种子 seed: {m.get('seed', '')}", f"每次抽样 draws per run: {m.get('draws', '')}",
                 f"模拟次数 runs: {m.get('runs', '')}"]
        if "samples" in m:
            facts.append(f"样本数 sample size: {m['samples']}")
        ws.write_string(row, 0, "；".join(str(f) for f in facts), fmts["header"])
        if sweep.mode == "knob":
            columns = {**{k: (k, "num") for k in m.get("knobs", [])}, **KNOB_COLUMNS}
        else:
            columns = SENSITIVITY_COLUMNS
        row = _write_block(ws, row + 1, sweep.table, columns, fmts, widths)
        if sweep.break_even is not None:
            ws.write_string(row + 1, 0, "盈亏平衡 break-even（旋钮值 knob value）", fmts["header"])
            row = _write_block(ws, row + 2, sweep.break_even, BREAK_EVEN_COLUMNS, fmts, widths)
        row += 2
    for j, width in widths.items():
        ws.set_column(j, j, width)


def _write_block(ws, top: int, df: pd.DataFrame, columns: dict, fmts: dict, widths: dict) -> int:
    """A header row at ``top`` and the rows of ``df`` below it; returns the first free row. ``widths``
    gathers each column's widest text (Chinese counted double) over all blocks of the sheet."""
    keys = [k for k in columns if k in df.columns]
    for j, key in enumerate(keys):
        header, kind = columns[key]
        ws.write(top, j, header, fmts["header"])
        for i, v in enumerate(df[key].tolist(), start=top + 1):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                ws.write_blank(i, j, None)
            elif kind and isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                ws.write_number(i, j, float(v), fmts[kind])
            else:
                ws.write_string(i, j, str(v))
        width = max([_display_width(header)] + [_display_width(_shown(v, kind)) for v in df[key].tolist()[:500]])
        widths[j] = max(widths.get(j, 8), min(width + 2, 60))
    return top + 1 + len(df)


def write_sensitivity_workbook(sweep, path: str | Path) -> Path:
    """A workbook of its own holding the 敏感性 sheet (``gridsim sweep``); same inputs, same bytes.
    ``sweep``: one :class:`~gridsim.sweep.SweepResult` or a list of them."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": "网格化服务管理经费敏感性 sensitivity of the funding need", "created": DOCUMENT_DATE})
    write_sensitivity_sheet(wb, sweep, _formats(wb))
    wb.close()
    return Path(path)
