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
    keys = [k for k in columns if k in df.columns]
    for j, key in enumerate(keys):
        header, kind = columns[key]
        ws.write(0, j, header, fmts["header"])
        values = df[key].tolist()
        for i, v in enumerate(values, start=1):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                ws.write_blank(i, j, None)
            elif kind and isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                ws.write_number(i, j, float(v), fmts[kind])
            else:
                ws.write_string(i, j, str(v))
        width = max([_display_width(header)] + [_display_width(_shown(v, kind)) for v in values[:500]])
        ws.set_column(j, j, min(max(width + 2, 8), 60))
    ws.freeze_panes(1, 0)
    ws.set_paper(9)  # A4, landscape, one page wide, the header row on every page: finance prints these
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)


def write_budget(result: BudgetResult, out_dir: str | Path, policy) -> list[Path]:
    """Write ``budget.xlsx`` and the CSVs into ``out_dir``; all files appear together or none do.

    Files are written into a temporary folder beside ``out_dir`` and moved in at the end.
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
        _write_workbook(result, tmp / "budget.xlsx", policy, grids)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for f in sorted(tmp.iterdir()):
            os.replace(f, out_dir / f.name)
            written.append(out_dir / f.name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_workbook(result: BudgetResult, path: Path, policy, grids: pd.DataFrame) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": "网格化服务管理经费需求 funding need", "created": DOCUMENT_DATE})
    fmts = {"header": wb.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"}),
            "yuan": wb.add_format({"num_format": "#,##0"}), "int": wb.add_format({"num_format": "0"}),
            "dec": wb.add_format({"num_format": "0.00"}), "pct": wb.add_format({"num_format": "0.00%"}),
            "ratio": wb.add_format({"num_format": "0.00"})}
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
    wb.close()
