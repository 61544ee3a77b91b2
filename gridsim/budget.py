"""Funding need of a grid plan, with uncertainty bands, and its export for finance (三(一)3, 三(三), 三(七)).

Four cost lines — base pay after deductions and vacancies, quarterly performance pay (both from
:mod:`gridsim.assessment`), publicity rewards and training (:mod:`gridsim.pay`) — per replicate, month and
village/community, from the months the new rules start (``timing.new_rules_start``). Funders: the district
pays ``funding.district_share`` of the pay lines (the plan's "区街两级专项配套资金", 三(一)3) and
``funding.district_share_publicity_training`` of publicity and training; the subdistrict pays the rest. The
split is a policy choice, never drawn. Bands are percentiles over replicates of each total (the P95 of a
sum, not the sum of P95s).

The plan priced is a :class:`~gridsim.plan.Plan` — its tallies are the grids' counts, and its rule status is
carried along: a plan that breaks a rule of 三(一) is priced, but the result says so (``violations``, a
``rule_violations`` column per grid, a warning in ``warnings``).

Public API
----------
- :func:`simulate_budget` -> :class:`BudgetResult` with tidy frames ``bands`` (freq, period, dimension,
  item, label, p5 … p95, mean), ``summary`` (annual P5/P50/P95 per item), ``grids``; methods
  :meth:`BudgetResult.fan` (one dimension's bands, for fan charts) and :meth:`BudgetResult.replicate_totals`.
- :func:`funding_figures` -> one year's P5/P50/P95 of the total and each funder and the assessment's rates
  (:data:`FIGURES`), the same numbers without the frames: what a sweep's every run reads.
- the export to Excel and CSV is :func:`gridsim.workbook.write_budget`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import __version__
from .assessment import (STREAM_BUDGET, AssessmentResult, AssessmentSums, assessment_sums, block_seeds,
                         draw_parameters, horizon)
from .errors import GridsimError, InputError, PolicyError, Problem
from .pay import priced_months, publicity_rewards, tallies_of, training_sessions
from .workload import parts_of
from .policy import load_baseline

LINES = ("base_pay", "performance_pay", "publicity", "training")
LINE_LABELS = {"base_pay": "基础工资（扣分后）base pay after deductions", "performance_pay": "办件绩效 performance pay",
               "publicity": "宣传奖励 publicity rewards", "training": "培训 training"}
FUNDER_LABELS = {"district": "区级资金 district", "subdistrict": "街道资金 subdistrict"}
QUANTILES = (5, 20, 35, 50, 65, 80, 95)
"""Percentiles kept in the bands: the 5–95, 20–80 and 35–65 fan-chart bands and the median."""

BUDGET_KEYS = ("publicity.adoption_rate", "training.cost_yuan_per_participant")
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
    violations: pd.DataFrame = field(default_factory=pd.DataFrame)  # the plan's broken rules (三(一))
    warnings: list[str] = field(default_factory=list)

    def fan(self, dimension: str, freq: str) -> pd.DataFrame:
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


def _is_todays_map(plan) -> bool:
    if not hasattr(plan, "assignment"):  # a tallies frame: no homes to compare with today's map
        return False
    homes = plan.homes
    if "current_grid_id" not in homes.columns:
        return False
    return bool((plan.assignment == homes["current_grid_id"]).all())


def violation_warning(violations: pd.DataFrame) -> str | None:
    """One line naming the rules a priced plan breaks (None when it breaks none)."""
    if violations.empty:
        return None
    counts = violations.groupby("rule").size()
    rules = "；".join(f"{rule} {n} 处" for rule, n in counts.items())
    return (f"注意：所计价的网格方案违反方案规则（三(一)）{len(violations)} 处：{rules}；经费按方案原样计算 "
            f"(warning: the plan priced breaks {len(violations)} rule(s); priced as given)")


def simulate_budget(plan, policy=None, draws: int = 2000, seed: int = 0, *, cases: pd.DataFrame | None = None,
                    year: int | None = None, years: int = 1, uncertain: bool = True, workers: int | None = None,
                    unit_names: dict[str, str] | None = None, bands: str = "all") -> BudgetResult:
    """Simulate what a plan costs: ``draws`` replicates of ``years`` calendar years from ``year``.

    ``plan`` is a :class:`~gridsim.plan.Plan` (today's map is ``Plan.from_column(homes, graph)``); its
    tallies are judged under ``policy`` (default: the plan's own policy). ``cases`` (e.g. ``read_cases()``)
    is used only when the plan is today's map: then the observed case counts and quality drive performance
    pay and late-case deductions. Same inputs and seed give the same result. ``bands="year"`` keeps only the
    yearly bands of the total, lines, funders and units (the numbers are the same); a sweep of thousands of
    runs reads :func:`funding_figures` instead.
    """
    if bands not in ("all", "year"):
        raise GridsimError(f"bands 须为 all 或 year (bands must be 'all' or 'year'), 得到 got {bands!r}")
    p = _price(plan, policy, draws, seed, cases=cases, year=year, years=years, uncertain=uncertain, workers=workers)
    policy, tallies, periods, units = p.policy, p.tallies, p.periods, p.sums.units
    assessment = p.sums.result()
    names = {u: (unit_names or {}).get(u, u) for u in units}
    grids = assessment.grids.copy()
    grids.insert(1, "unit_name", grids["unit_id"].map(names))
    grids["rule_violations"] = tallies["violations"].reindex(grids.index).fillna("") if "violations" in tallies else ""
    warnings = [w for w in (violation_warning(p.violations),) if w]
    first = periods[np.flatnonzero(p.priced)[0]] if p.priced.any() else None
    meta = {"scenario": policy.scenario.id, "scenario_title": policy.scenario.title, "seed": seed, "draws": draws,
            "version": __version__, "year": int(periods[0].year), "years": years, "grids": len(tallies),
            "plan": "today" if p.todays else "plan", "cases_source": assessment.cases_source, "uncertain": uncertain,
            "priced_from": str(first) if first is not None else "", "violations": len(p.violations)}
    bands = _bands(p.costs, p.district, periods, units, names, yearly_only=bands == "year")
    summary = bands[(bands["freq"] == "year") & (bands["dimension"] != "unit_line")]
    summary = summary.rename(columns={"period": "year"})[["year", "item", "label", "p5", "p50", "p95", "mean"]]
    return BudgetResult(bands=bands, summary=summary.reset_index(drop=True), grids=grids, assessment=assessment,
                        periods=periods, units=units, unit_names=names, costs=p.costs, district=p.district, meta=meta,
                        violations=p.violations, warnings=warnings)


#: the figures :func:`funding_figures` gives (the first year's bands of the total and each funder, the rates)
FIGURES = tuple(f"{item}_p{q}" for item in ("total", *FUNDER_LABELS) for q in (5, 50, 95)) + (
    "unqualified", "criticism", "termination", "grids", "violations")


def funding_figures(plan, policy, draws: int, seed: int, *, year: int | None, uncertain: bool,
                    workers: int | None) -> dict[str, float]:
    """One year's headline figures of a plan (:data:`FIGURES`): P5/P50/P95 of the yearly total and of each
    funder's share (``total_p50``, ``district_p95`` …), the assessment's ``unqualified``, ``criticism`` and
    ``termination`` rates, the number of ``grids`` and of rule ``violations``.

    The same numbers as ``simulate_budget(plan, policy, draws, seed, year=year, years=1, ...)``'s ``summary``
    and ``assessment.rates()`` — the same Monte Carlo, the same sums and percentiles — without the frames
    (bands of every line and unit, per-grid, per-month and score tables) that a sweep of thousands of runs
    never reads and that cost more than the simulation itself.
    """
    p = _price(plan, policy, draws, seed, cases=None, year=year, years=1, uncertain=uncertain, workers=workers)
    arrays = dict(zip(("total", "funder"), _money_series(p.costs, p.district)))
    out = {}
    for dim, items in (("total", ("total",)), ("funder", tuple(FUNDER_LABELS))):
        agg = _sum_months(arrays[dim], 12)
        q = np.percentile(agg, QUANTILES, axis=0)  # as in the bands: quantiles × years × items
        for j, item in enumerate(items):
            for i, pct in enumerate(QUANTILES):
                if pct in (5, 50, 95):
                    out[f"{item}_p{pct}"] = float(q[i, 0, j])
    rates = p.sums.rates()
    out.update({k: rates[k] for k in ("unqualified", "criticism", "termination")})
    out["grids"] = float(len(p.tallies))
    out["violations"] = float(len(p.violations))
    return out


@dataclass
class _Priced:
    """A plan priced: the assessment's sums and the cost arrays, before any frame (see :func:`_price`)."""

    policy: object
    tallies: pd.DataFrame
    violations: pd.DataFrame
    todays: bool
    sums: AssessmentSums
    periods: pd.PeriodIndex
    priced: np.ndarray
    costs: np.ndarray
    district: np.ndarray


def _price(plan, policy, draws, seed, *, cases, year, years, uncertain, workers) -> _Priced:
    """The plan checked and priced (the Monte Carlo of :func:`simulate_budget`): yuan per replicate, month,
    unit and line, and the district's part; an unpriceable plan is an :class:`~gridsim.errors.InputError`."""
    policy = policy or getattr(plan, "policy", None) or load_baseline()
    if tuple(policy["funding.sources"]) != tuple(FUNDER_LABELS):
        raise PolicyError(f"资金来源须为 (funding.sources must be) {list(FUNDER_LABELS)} (三(一)3), "
                          f"得到 got {list(policy['funding.sources'])}")
    if hasattr(plan, "with_policy") and plan.policy is not policy:
        plan = plan.with_policy(policy)
    if hasattr(plan, "unassigned_homes") and plan.unassigned_homes():
        missing = plan.unassigned_homes()
        src = str(plan.homes.attrs.get("source", "homes"))
        raise InputError(src, [Problem(src, None, "grid_id（网格编号）", hid, "住户没有分到网格 (home has no grid)")
                               for hid, _ in missing[:50]], headline="网格方案无法计价 (plan cannot be priced)")
    if hasattr(plan, "mixed_grids") and plan.mixed_grids():
        src = str(plan.homes.attrs.get("source", "homes"))
        raise InputError(src, [Problem(src, None, "grid_id（网格编号）", plan.grid_id_of_code(g),
                                       f"网格跨越多个村（社）{plan.units_of_code(g)}，经费无法归属到村（社）"
                                       f"(grid spans several units; its money has no unit)")
                               for g in sorted(plan.mixed_grids())[:50]],
                         headline="网格方案无法计价 (plan cannot be priced)")
    tallies = tallies_of(plan)
    violations = plan.violations_frame() if hasattr(plan, "violations_frame") else pd.DataFrame()
    todays = _is_todays_map(plan)
    # the tallies and workload parts are made once here (the plan's checks and tours are not cheap)
    sums = assessment_sums(tallies, policy, draws, seed, cases=cases if todays else None, year=year, years=years,
                           uncertain=uncertain, workers=workers, parts=parts_of(plan, tallies, policy))
    periods = horizon(policy, year, years)
    priced = priced_months(periods, policy).astype(float)
    units = sums.units
    grids_per_unit = sums.grids_per_unit()
    sessions = training_sessions(periods, policy) * priced
    per_grid = float(policy["training.participants_per_grid"])
    R, M, U = draws, len(periods), len(units)
    costs = np.zeros((R, M, U, len(LINES)))
    costs[..., 0] = sums.arrays["base_paid"]
    costs[..., 1] = sums.arrays["performance_paid"]
    district = np.zeros((R, M, U))
    share_pay = float(policy["funding.district_share"])
    share_other = float(policy["funding.district_share_publicity_training"])
    start = 0
    for ss, size in block_seeds(seed, STREAM_BUDGET, draws):
        rng = np.random.default_rng(ss)
        prm = draw_parameters(policy, BUDGET_KEYS, size, rng, uncertain=uncertain)
        sl = slice(start, start + size)
        costs[sl, :, :, 2] = publicity_rewards(U, M, prm["publicity.adoption_rate"], policy, rng) * priced[None, :, None]
        costs[sl, :, :, 3] = (sessions[None, :, None] * grids_per_unit[None, None, :] * per_grid
                              * prm["training.cost_yuan_per_participant"][:, None, None])
        district[sl] = share_pay * costs[sl, :, :, :2].sum(axis=3) + share_other * costs[sl, :, :, 2:].sum(axis=3)
        start += size
    return _Priced(policy, tallies, violations, todays, sums, periods, priced, costs, district)


def _by_freq(arr: np.ndarray, periods: pd.PeriodIndex, freq: str) -> tuple[np.ndarray, list[str]]:
    """Sum axis 1 (months) into quarters or years."""
    if freq == "month":
        return arr, list(periods.astype(str))
    k = 3 if freq == "quarter" else 12
    labels = periods[::k].asfreq("Q" if freq == "quarter" else "Y").astype(str)
    return _sum_months(arr, k), list(labels)


def _sum_months(arr: np.ndarray, k: int) -> np.ndarray:
    """Sum axis 1 (months) in runs of ``k`` (3: quarters, 12: years)."""
    return arr.reshape(arr.shape[0], arr.shape[1] // k, k, *arr.shape[2:]).sum(axis=2)


def _money_series(costs, district) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replicates × months arrays of the total (one item) and of the funders (district, subdistrict), and the
    total per unit: one definition for the bands and :func:`funding_figures` (same sums, same numbers)."""
    total_by_unit = costs.sum(axis=3)
    total = total_by_unit.sum(axis=2)[..., None]
    funder = np.stack([district.sum(axis=2), (total_by_unit - district).sum(axis=2)], axis=2)
    return total, funder, total_by_unit


def _bands(costs, district, periods, units, names, yearly_only: bool) -> pd.DataFrame:
    """Percentiles over replicates of every total: per frequency, dimension and item (``yearly_only``: the
    yearly bands of total, lines, funders and units only)."""
    total, funder, total_by_unit = _money_series(costs, district)
    series = {  # dimension -> (array replicates × months × items, item ids, labels)
        "total": (total, ["total"], ["合计 total"]),
        "line": (costs.sum(axis=2), [f"line:{x}" for x in LINES], [LINE_LABELS[x] for x in LINES]),
        "funder": (funder, [f"funder:{f}" for f in FUNDER_LABELS], list(FUNDER_LABELS.values())),
        "unit": (total_by_unit, [f"unit:{u}" for u in units], [names[u] for u in units]),
        "unit_line": (costs.reshape(*costs.shape[:2], -1), [f"unit_line:{u}/{x}" for u in units for x in LINES],
                      [f"{names[u]} {LINE_LABELS[x]}" for u in units for x in LINES]),
    }
    frames = []
    for freq in (("year",) if yearly_only else ("month", "quarter", "year")):
        for dim, (arr, items, labels) in series.items():
            if dim == "unit_line" and (freq != "year" or yearly_only):
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
