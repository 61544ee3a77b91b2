"""Funding need of a grid plan, with uncertainty bands, and its export for finance (三(一)3, 三(三), 三(七)).

Four cost lines — base pay after deductions and vacancies, quarterly performance pay (both from
:mod:`gridsim.assessment`), publicity rewards and training (:mod:`gridsim.pay`) — per replicate, month and
village/community. Funders: the district pays ``funding.district_share`` of the pay lines (the plan's
"区街两级专项配套资金", 三(一)3) and ``funding.district_share_publicity_training`` of publicity and
training; the subdistrict pays the rest. Bands are percentiles over replicates of each total (the P95 of a
sum, not the sum of P95s).

Public API
----------
- :func:`simulate_budget` -> :class:`BudgetResult` with tidy frames ``bands`` (freq, period, dimension,
  item, label, p5 … p95, mean), ``summary`` (annual P5/P50/P95 per item), ``grids``; methods
  :meth:`BudgetResult.fan` (one dimension's bands, for fan charts) and :meth:`BudgetResult.replicate_totals`.
- :func:`write_budget` — ``budget.xlsx`` and ``grids.csv``, ``summary.csv``, ``assessment.csv``, all or nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .assessment import (STREAM_BUDGET, AssessmentResult, block_seeds, draw_parameters, horizon,
                         simulate_assessment)
from .errors import GridsimError, PolicyError
from .pay import grid_tallies, publicity_rewards, training_sessions
from .policy import load_baseline

LINES = ("base_pay", "performance_pay", "publicity", "training")
LINE_LABELS = {"base_pay": "基础工资（扣分后）base pay after deductions", "performance_pay": "办件绩效 performance pay",
               "publicity": "宣传奖励 publicity rewards", "training": "培训 training"}
FUNDER_LABELS = {"district": "区级资金 district", "subdistrict": "街道资金 subdistrict"}
QUANTILES = (5, 20, 35, 50, 65, 80, 95)
"""Percentiles kept in the bands: the 5–95, 20–80 and 35–65 fan-chart bands and the median."""
WORKBOOK_DATE = datetime(2024, 1, 31)  # the plan's date, as the workbook's created/modified property

BUDGET_KEYS = ("publicity.adoption_rate", "training.cost_yuan_per_participant", "funding.district_share",
               "funding.district_share_publicity_training")
PAY_LINES = ("base_pay", "performance_pay")


@dataclass
class BudgetResult:
    """The funding need of one plan under one policy.

    - ``bands``: ``freq`` (month | quarter | year), ``period`` (text), ``start`` (its first day, for time
      axes), ``dimension`` (total | line | funder | unit |
      unit_line), ``item`` (``total``, ``line:base_pay``, ``funder:district``, ``unit:wanfo``,
      ``unit_line:wanfo/base_pay`` …), ``label``, ``p5 … p95``, ``mean`` — yuan per period.
    - ``summary``: annual ``year, item, label, p5, p50, p95, mean`` for total, funders, lines and units.
    - ``grids``: per grid tallies, base pay, visit load and the assessment's expectations.
    - ``assessment``: the :class:`~gridsim.assessment.AssessmentResult`.
    - ``costs``: yuan, ``replicates × months × units × lines``; ``district``: ``replicates × months × units``.
    """

    bands: pd.DataFrame
    summary: pd.DataFrame
    grids: pd.DataFrame
    assessment: AssessmentResult
    periods: pd.PeriodIndex
    units: list[str]
    unit_names: dict[str, str]
    costs: np.ndarray = field(repr=False)
    district: np.ndarray = field(repr=False)
    meta: dict = field(default_factory=dict)

    def fan(self, dimension: str = "line", freq: str = "month") -> pd.DataFrame:
        """The bands of one dimension and frequency, ready for a fan chart (x = period, one series per item)."""
        out = self.bands[(self.bands["dimension"] == dimension) & (self.bands["freq"] == freq)]
        if out.empty:
            raise GridsimError(f"没有这样的分项 (no such bands): dimension={dimension!r}, freq={freq!r}")
        return out.reset_index(drop=True)

    def replicate_totals(self) -> pd.DataFrame:
        """Per replicate and calendar year: yuan per cost line, per funder and in total (wide frame)."""
        years = self.periods.year.to_numpy()
        rows = []
        for y in np.unique(years):
            sel = years == y
            by_line = self.costs[:, sel].sum(axis=(1, 2))
            district = self.district[:, sel].sum(axis=(1, 2))
            frame = pd.DataFrame(by_line, columns=list(LINES))
            frame.insert(0, "year", int(y))
            frame.insert(0, "replicate", np.arange(len(frame)))
            frame["district"] = district
            frame["subdistrict"] = by_line.sum(axis=1) - district
            frame["total"] = by_line.sum(axis=1)
            rows.append(frame)
        return pd.concat(rows, ignore_index=True)


def _is_todays_map(homes: pd.DataFrame, grid_ids) -> bool:
    if grid_ids is None:
        return True
    grid_ids = getattr(grid_ids, "assignment", grid_ids)  # a gridsim.plan.Plan
    if "current_grid_id" not in homes.columns:
        return False
    return bool((pd.Series(np.asarray(grid_ids, dtype=object), index=homes.index) == homes["current_grid_id"]).all())


def simulate_budget(homes: pd.DataFrame, grid_ids: pd.Series | None = None, policy=None, draws: int = 2000,
                    seed: int = 0, *, cases: pd.DataFrame | None = None, year: int | None = None, years: int = 1,
                    uncertain: bool = True, workers: int | None = None,
                    unit_names: dict[str, str] | None = None) -> BudgetResult:
    """Simulate what a plan costs: ``draws`` replicates of ``years`` calendar years from ``year``.

    ``grid_ids`` (aligned with ``homes``, e.g. from :func:`gridsim.registers.read_plan`, or a
    :class:`gridsim.plan.Plan`) is the plan; ``None`` prices today's map. ``cases`` (e.g. ``read_cases()``) is used only when the plan is today's map: then the
    observed case counts and quality drive performance pay and late-case deductions. Same inputs and seed
    give the same result.
    """
    policy = policy or load_baseline()
    if tuple(policy["funding.sources"]) != tuple(FUNDER_LABELS):
        raise PolicyError(f"资金来源须为 (funding.sources must be) {list(FUNDER_LABELS)} (三(一)3), "
                          f"得到 got {list(policy['funding.sources'])}")
    tallies = grid_tallies(homes, grid_ids)
    todays = _is_todays_map(homes, grid_ids)
    assessment = simulate_assessment(tallies, policy, draws, seed, cases=cases if todays else None, year=year,
                                     years=years, uncertain=uncertain, workers=workers)
    periods = horizon(policy, year, years)
    units = assessment.units
    grids_per_unit = tallies.groupby("unit_id").size().reindex(units).to_numpy(float)
    sessions = training_sessions(periods, policy)
    per_grid = float(policy["training.participants_per_grid"])
    R, M, U = draws, len(periods), len(units)
    costs = np.zeros((R, M, U, len(LINES)))
    costs[..., 0] = assessment.base_paid
    costs[..., 1] = assessment.performance_paid
    district = np.zeros((R, M, U))
    start = 0
    for ss, size in block_seeds(seed, STREAM_BUDGET, draws):
        rng = np.random.default_rng(ss)
        prm = draw_parameters(policy, BUDGET_KEYS, size, rng, uncertain=uncertain)
        sl = slice(start, start + size)
        costs[sl, :, :, 2] = publicity_rewards(U, M, prm["publicity.adoption_rate"], policy, rng)
        costs[sl, :, :, 3] = (sessions[None, :, None] * grids_per_unit[None, None, :] * per_grid
                              * prm["training.cost_yuan_per_participant"][:, None, None])
        share_pay = prm["funding.district_share"][:, None, None]
        share_other = prm["funding.district_share_publicity_training"][:, None, None]
        district[sl] = (share_pay * costs[sl, :, :, :2].sum(axis=3) + share_other * costs[sl, :, :, 2:].sum(axis=3))
        start += size
    names = {u: (unit_names or {}).get(u, u) for u in units}
    grids = assessment.grids.copy()
    grids.insert(1, "unit_name", grids["unit_id"].map(names))
    meta = {"scenario": policy.scenario.id, "scenario_title": policy.scenario.title, "seed": seed, "draws": draws,
            "version": __version__, "year": int(periods[0].year), "years": years, "grids": len(tallies),
            "plan": "today" if todays else "plan", "cases_source": assessment.cases_source, "uncertain": uncertain}
    bands = _bands(costs, district, periods, units, names)
    summary = bands[(bands["freq"] == "year") & (bands["dimension"] != "unit_line")]
    summary = summary.rename(columns={"period": "year"})[["year", "item", "label", "p5", "p50", "p95", "mean"]]
    return BudgetResult(bands=bands, summary=summary.reset_index(drop=True), grids=grids, assessment=assessment,
                        periods=periods, units=units, unit_names=names, costs=costs, district=district, meta=meta)


def _by_freq(arr: np.ndarray, periods: pd.PeriodIndex, freq: str) -> tuple[np.ndarray, list[str]]:
    """Sum axis 1 (months) into quarters or years."""
    if freq == "month":
        return arr, list(periods.astype(str))
    k = 3 if freq == "quarter" else 12
    out = arr.reshape(arr.shape[0], arr.shape[1] // k, k, *arr.shape[2:]).sum(axis=2)
    labels = periods[::k].asfreq("Q" if freq == "quarter" else "Y").astype(str)
    return out, list(labels)


def _bands(costs, district, periods, units, names) -> pd.DataFrame:
    """Percentiles over replicates of every total: per frequency, dimension and item."""
    total_by_unit = costs.sum(axis=3)
    series = {  # dimension -> (array replicates × months × items, item ids, labels)
        "total": (total_by_unit.sum(axis=2)[..., None], ["total"], ["合计 total"]),
        "line": (costs.sum(axis=2), [f"line:{x}" for x in LINES], [LINE_LABELS[x] for x in LINES]),
        "funder": (np.stack([district.sum(axis=2), (total_by_unit - district).sum(axis=2)], axis=2),
                   [f"funder:{f}" for f in FUNDER_LABELS], list(FUNDER_LABELS.values())),
        "unit": (total_by_unit, [f"unit:{u}" for u in units], [names[u] for u in units]),
        "unit_line": (costs.reshape(*costs.shape[:2], -1), [f"unit_line:{u}/{x}" for u in units for x in LINES],
                      [f"{names[u]} {LINE_LABELS[x]}" for u in units for x in LINES]),
    }
    frames = []
    for freq in ("month", "quarter", "year"):
        for dim, (arr, items, labels) in series.items():
            if dim == "unit_line" and freq != "year":
                continue
            agg, plabels = _by_freq(arr, periods, freq)
            q = np.percentile(agg, QUANTILES, axis=0)  # quantiles × periods × items
            starts = [pd.Period(x).start_time for x in plabels]
            frame = pd.DataFrame({
                "freq": freq, "period": np.repeat(plabels, len(items)), "start": np.repeat(starts, len(items)),
                "dimension": dim,
                "item": np.tile(items, len(plabels)), "label": np.tile(labels, len(plabels)),
                **{f"p{p}": q[i].ravel() for i, p in enumerate(QUANTILES)},
                "mean": agg.mean(axis=0).ravel(),
            })
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- export

GRID_COLUMNS = {  # csv name -> (Chinese header with unit, number format)
    "grid_id": ("网格编号 grid", None), "unit_id": ("村社编号 unit", None), "unit_name": ("村社 unit name", None),
    "unit_type": ("类型 type", None), "homes": ("住户数（处）homes", "int"), "households": ("户数（户）households", "int"),
    "resident_households": ("常住户数（户）resident", "int"), "key_households": ("五必访户数（户）key", "int"),
    "basis_households": ("计薪户数（户）pay basis", "int"), "base_pay_month": ("基础工资（元/月）base pay", "yuan"),
    "visits_due_month": ("应走访（户次/月）visits due", "int"), "visit_load_ratio": ("走访负荷（应访/能力）load", "ratio"),
    "expected_base_pay_year": ("期望实发基础工资（元/年）", "yuan"),
    "expected_performance_pay_year": ("期望办件绩效（元/年）", "yuan"),
    "expected_deduction_yuan_year": ("期望扣减（元/年）", "yuan"),
    "expected_vacant_months_year": ("期望空缺（月/年）", "dec"),
}
ASSESSMENT_COLUMNS = {
    "grid_id": ("网格编号 grid", None), "unit_id": ("村社编号 unit", None), "unit_name": ("村社 unit name", None),
    "p_unqualified_month": ("月度不合格概率（每在岗月）", "pct"), "p_criticism": ("年度通报批评概率", "pct"),
    "p_termination": ("年度终止协议概率", "pct"), "mean_score": ("平均月度得分（分）", "dec"),
    "score_p5": ("月度得分P5（分）", "dec"), "expected_deduction_points_month": ("期望扣分（分/月）", "dec"),
    "expected_deduction_yuan_year": ("期望扣减（元/年）", "yuan"),
    "expected_vacant_months_year": ("期望空缺（月/年）", "dec"), "visit_load_ratio": ("走访负荷（应访/能力）", "ratio"),
}
MONTHLY_ASSESSMENT_COLUMNS = {
    "period": ("月份 month", None), "mean_score": ("平均得分（分）", "dec"), "share_unqualified": ("不合格比例", "pct"),
    "expected_criticisms": ("期望通报批评（人次）", "dec"), "expected_terminations": ("期望终止协议（人次）", "dec"),
    "expected_vacant_grids": ("期望空缺网格（个）", "dec"),
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
    wb.set_properties({"created": WORKBOOK_DATE})  # fixed, so identical runs give identical bytes
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
    ], columns=["参数 key", "名称 label", "取值 value"])
    params = pd.concat([run, table], ignore_index=True)
    _write_sheet(wb, "参数", params, {c: (c, None) for c in params.columns}, fmts)
    wb.close()
