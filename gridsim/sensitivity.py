"""What drives the money: one-at-a-time (tornado), Morris, Sobol, policy-knob sweeps and break-even answers.

Finance has a P5/P50/P95 band (:mod:`gridsim.budget`); the next questions are *which* assumption makes it
wide, what the bill is if a rule were different, and at what value of a rule a funder's share passes its
budget line. Each analysis here is a list of budget runs (:class:`gridsim.sweep.BudgetRun`, common random
numbers: every run has the same seed) executed by :func:`gridsim.sweep.run_tasks` on a Dask client.

* :func:`tornado` — each factor at its low and at its high end, everything else at its baseline value
  (``uncertain=False`` in the runs by default: the classic one-at-a-time design, so a swing is the
  factor's own effect); the swing of every output (:data:`gridsim.sweep.INDEX_OUTPUTS`).
* :func:`morris` — Morris elementary-effects screening (SALib ``morris`` sample and analysis: μ*, σ and a
  bootstrap interval of μ*), cheap enough for all factors.
* :func:`sobol` — Sobol first-order (S1) and total (ST) indices with bootstrap confidence intervals
  (SALib: Saltelli's scheme on a scrambled Sobol' sequence, ``N·(k+2)`` runs; N a power of two). The
  factors are uniform over their ranges: the question is which input matters across its plausible span,
  not the split-triangular weights the Monte Carlo uses for a band.
* :func:`knob_sweep` — one or two rule or choice values over a grid of points (:func:`knob`,
  :func:`parse_knob`); where a knob changes the grid rules (``grid.*``) the optimizer re-partitions the
  register, once per distinct set of grid rules (plans are cached by that set); every point is priced
  with the full Monte Carlo (``uncertain=True``), so each money figure has its P5–P95 band; per point:
  grids, rule violations, money by funder with its band, assessment rates.
* :func:`break_even` — the knob value where an output crosses a line (e.g. the subdistrict's yearly
  share = its budget), found with scipy's ``brentq`` on a shape-preserving (PCHIP) interpolation of the
  sweep, with the band from the P5 and P95 curves' crossings.

Which factors: every parameter with a ``range`` (see :func:`gridsim.sweep.ranged_factors`) — the empirical
unknowns and the choices — each over its range; a subset or other ranges can be given. The rules of the
plan have no range (they are the plan); they are varied as knobs.

:class:`Ishigami` is the standard test function with known Sobol indices; the tests run it through the
same :func:`sobol` to check the sampler, the estimator and the execution path together.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import GridsimError
from .sweep import (BANDED, INDEX_OUTPUTS, OUTPUTS, BudgetRun, Factor, SweepResult, run_tasks,
                    runs_frame, workers_of)

MORRIS_LEVELS = 4
NUM_RESAMPLES = 1000  # bootstrap resamples for the confidence intervals
CONF_LEVEL = 0.95


# ---------------------------------------------------------------------------------------------------
# Shared pieces


def problem(factors: Sequence[Factor]) -> dict:
    """The SALib problem: names and bounds of the factors."""
    return {"num_vars": len(factors), "names": [f.key for f in factors], "bounds": [[f.low, f.high] for f in factors]}


def _tasks(factors: Sequence[Factor], X: np.ndarray) -> list[dict]:
    return [{"values": {f.key: f.value(x) for f, x in zip(factors, row)}} for row in X]


def _outputs(results: Sequence[Mapping[str, float]], outputs: Sequence[str] | None) -> list[str]:
    if outputs:
        missing = [o for o in outputs if o not in results[0]]
        if missing:
            raise GridsimError(f"未知输出 (unknown outputs) {missing}；可用 (available): {list(results[0])}")
        return list(outputs)
    known = [o for o in INDEX_OUTPUTS if o in results[0]]
    return known or list(results[0])


def _label(name: str) -> str:
    return OUTPUTS.get(name, name)


def _meta(mode: str, model, client, started: float, **extra) -> dict:
    meta = {"mode": mode, "workers": workers_of(client), "seconds": round(time.monotonic() - started, 3)}
    if isinstance(model, BudgetRun):
        meta.update({"scenario": model.policy.scenario.id, "seed": model.seed, "draws": model.draws,
                     "uncertain": model.uncertain})
    meta.update(extra)
    return meta


def check_samples(mode: str, n: int) -> None:
    """Refuse a sample size SALib cannot use, before any run: Sobol needs a power of two (at least 2), Morris
    at least 2 trajectories (a spread and an interval need two)."""
    if mode == "sobol" and (n < 2 or n & (n - 1)):
        lower = 2 ** max(1, int(math.log2(max(n, 2))))
        raise GridsimError(f"Sobol 的样本数须为2的幂 (the Sobol sample size N must be a power of 2, at least 2), "
                           f"得到 got {n}；可用 (try) {lower} 或 (or) {lower * 2}")
    if mode == "morris" and n < 2:
        raise GridsimError(f"Morris 的轨迹数须至少为2 (Morris needs at least 2 trajectories), 得到 got {n}")


# ---------------------------------------------------------------------------------------------------
# One at a time


def tornado(model: Callable, factors: Sequence[Factor], *, outputs: Sequence[str] | None = None, client=None,
            progress: bool = True) -> SweepResult:
    """Each factor at its low and high end, the rest at baseline; ``table`` has per factor and output the
    baseline run's value, the values at the two ends and the swing ``|high − low|``, largest swing first
    within each output."""
    started = time.monotonic()
    tasks = [{"values": {}}]
    for f in factors:
        tasks += [{"values": {f.key: f.value(f.low)}}, {"values": {f.key: f.value(f.high)}}]
    results = run_tasks(model, tasks, client=client, progress=progress, desc="单因素 tornado")
    names = _outputs(results, outputs)
    rows = []
    for i, f in enumerate(factors):
        lo, hi = results[1 + 2 * i], results[2 + 2 * i]
        for out in names:
            rows.append({"output": out, "output_label": _label(out), "key": f.key, "label": f.label,
                         "low": f.value(f.low), "high": f.value(f.high), "baseline": f.value(f.baseline),
                         "base": results[0][out], "at_low": lo[out], "at_high": hi[out],
                         "swing": abs(hi[out] - lo[out])})
    table = pd.DataFrame(rows)
    table["_order"] = table["output"].map({o: i for i, o in enumerate(names)})
    table = table.sort_values(["_order", "swing"], ascending=[True, False], kind="stable")
    table = table.drop(columns="_order").reset_index(drop=True)
    return SweepResult("tornado", table, runs_frame(tasks, results),
                       _meta("tornado", model, client, started, runs=len(tasks), factors=len(factors)))


# ---------------------------------------------------------------------------------------------------
# Global: Morris and Sobol (SALib)


def morris(model: Callable, factors: Sequence[Factor], trajectories: int, *, levels: int = MORRIS_LEVELS,
           seed: int = 0, outputs: Sequence[str] | None = None, client=None, progress: bool = True,
           num_resamples: int = NUM_RESAMPLES, conf_level: float = CONF_LEVEL) -> SweepResult:
    """Morris screening over ``trajectories`` trajectories (``trajectories·(k+1)`` runs): μ* (mean absolute
    elementary effect, in the output's unit per full range), its bootstrap interval, μ and σ."""
    from SALib.analyze import morris as analyze
    from SALib.sample import morris as sample

    check_samples("morris", trajectories)
    if levels < 2 or levels % 2:
        raise GridsimError(f"Morris 的水平数须为不小于2的偶数 (Morris levels must be an even number >= 2), 得到 got {levels}")
    started = time.monotonic()
    prob = problem(factors)
    X = sample.sample(prob, trajectories, num_levels=levels, seed=seed)
    tasks = _tasks(factors, X)
    results = run_tasks(model, tasks, client=client, progress=progress, desc="Morris")
    rows = []
    for out in _outputs(results, outputs):
        Y = np.array([r[out] for r in results])
        si = analyze.analyze(prob, X, Y, num_resamples=num_resamples, conf_level=conf_level, num_levels=levels,
                             seed=seed)
        for j, f in enumerate(factors):
            rows.append({"output": out, "output_label": _label(out), "key": f.key, "label": f.label,
                         "mu_star": float(si["mu_star"][j]), "mu_star_conf": float(si["mu_star_conf"][j]),
                         "mu": float(si["mu"][j]), "sigma": float(si["sigma"][j])})
    return SweepResult("morris", pd.DataFrame(rows), runs_frame(tasks, results),
                       _meta("morris", model, client, started, runs=len(tasks), factors=len(factors),
                             samples=trajectories, levels=levels, conf_level=conf_level))


def sobol(model: Callable, factors: Sequence[Factor], n: int, *, seed: int = 0, outputs: Sequence[str] | None = None,
          client=None, progress: bool = True, num_resamples: int = NUM_RESAMPLES,
          conf_level: float = CONF_LEVEL) -> SweepResult:
    """Sobol S1 and ST with bootstrap intervals from ``n·(k+2)`` runs (``n`` a power of two). An output
    that does not vary across the sample (e.g. the termination rate against the funding split) has no
    variance to share out: its indices are left empty (NaN) and ``constant`` is True."""
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    check_samples("sobol", n)
    started = time.monotonic()
    prob = problem(factors)
    X = sample.sample(prob, n, calc_second_order=False, scramble=True, seed=seed)
    tasks = _tasks(factors, X)
    results = run_tasks(model, tasks, client=client, progress=progress, desc="Sobol")
    rows = []
    for out in _outputs(results, outputs):
        Y = np.array([r[out] for r in results])
        constant = bool(np.ptp(Y) == 0)
        if constant:
            si = {k: np.full(len(factors), np.nan) for k in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a factor with no effect divides 0 by 0 in a resample
                # a Generator, not the int: SALib's sobol.analyze ignores a falsy seed (0) and resamples unseeded
                si = analyze.analyze(prob, Y, calc_second_order=False, num_resamples=num_resamples,
                                     conf_level=conf_level, seed=np.random.default_rng(seed))
        for j, f in enumerate(factors):
            rows.append({"output": out, "output_label": _label(out), "key": f.key, "label": f.label,
                         "S1": float(si["S1"][j]), "S1_conf": float(si["S1_conf"][j]),
                         "ST": float(si["ST"][j]), "ST_conf": float(si["ST_conf"][j]), "constant": constant})
    return SweepResult("sobol", pd.DataFrame(rows), runs_frame(tasks, results),
                       _meta("sobol", model, client, started, runs=len(tasks), factors=len(factors), samples=n,
                             conf_level=conf_level))


@dataclass(frozen=True)
class Ishigami:
    """The Ishigami function ``sin x1 + a sin² x2 + b x3⁴ sin x1`` on ``[-π, π]³``; with a = 7, b = 0.1 its
    indices are S1 = (0.314, 0.442, 0), ST = (0.558, 0.442, 0.244) — the standard check of a Sobol code."""

    a: float = 7.0
    b: float = 0.1

    def __call__(self, values: Mapping[str, float], plan: str | None = None) -> dict[str, float]:
        x1, x2, x3 = (values[k] for k in ("x1", "x2", "x3"))
        return {"y": math.sin(x1) + self.a * math.sin(x2) ** 2 + self.b * x3 ** 4 * math.sin(x1)}

    @staticmethod
    def factors() -> list[Factor]:
        return [Factor(k, -math.pi, math.pi, 0.0, k) for k in ("x1", "x2", "x3")]


# ---------------------------------------------------------------------------------------------------
# Policy knobs


@dataclass(frozen=True)
class Knob:
    """A rule or choice swept over ``values`` (numbers, or options such as ``houses`` / ``registered``)."""

    key: str
    values: tuple
    label: str = ""

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    @property
    def changes_grids(self) -> bool:
        """Does the optimizer read this knob (grid rules; workload and visits, for the workload ceiling)?"""
        from .scenario_plan import OPTIMIZER_PREFIXES

        return self.key.startswith(OPTIMIZER_PREFIXES)


def knob(policy, key: str, values: Sequence[Any], *, what: str = "--knob") -> Knob:
    """A knob over ``values``, each checked against the parameter (type, options, ``valid``) before any run.
    Limits between parameters (a floor under its ceiling) are checked per point by :func:`knob_sweep`, since
    a second knob may move the other limit."""
    from .errors import PolicyError
    from .policy import _check_value

    if key not in policy:
        raise GridsimError(f"{what}: 未知参数 (unknown parameter) {key!r}")
    values = tuple(dict.fromkeys(values))
    if len(values) < 2:
        raise GridsimError(f"{what} {key}: 至少需要两个不同取值 (needs at least two distinct values), 得到 got {list(values)}")
    for v in values:
        try:
            _check_value(policy.param(key), v, f"{what} {key}={v!r}")
        except PolicyError as exc:
            raise GridsimError(str(exc)) from None
    return Knob(key, values, policy.param(key).label)


def parse_knob(policy, text: str, *, default_points: int = 11) -> Knob:
    """``KEY=LOW:HIGH[:POINTS]`` (evenly spaced, rounded for whole-number parameters) or ``KEY=A,B,C``."""
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise GridsimError(f"--knob 格式应为 KEY=低:高[:点数] 或 KEY=值1,值2 (must be KEY=LOW:HIGH[:POINTS] or "
                           f"KEY=A,B,...): {text!r}")
    if key not in policy:
        raise GridsimError(f"--knob: 未知参数 (unknown parameter) {key!r}")
    base = policy[key]
    if ":" in spec:
        parts = spec.split(":")
        try:
            low, high = float(parts[0]), float(parts[1])
            points = int(parts[2]) if len(parts) > 2 else default_points
        except (ValueError, IndexError):
            raise GridsimError(f"--knob {key}: 区间格式应为 低:高[:点数] (range must be LOW:HIGH[:POINTS]): {spec!r}") from None
        if len(parts) > 3 or points < 2:
            raise GridsimError(f"--knob {key}: 区间格式应为 低:高[:点数]，点数至少为2 (LOW:HIGH[:POINTS], at least 2 "
                               f"points): {spec!r}")
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise GridsimError(f"--knob {key}: 区间为空 (the range is empty): [{low:g}, {high:g}]；须低值小于高值 "
                               "(low must be below high)")
        xs = np.linspace(low, high, points)
        values = [int(round(x)) for x in xs] if isinstance(base, int) and not isinstance(base, bool) else [round(float(x), 10) for x in xs]
    else:
        values = [_parse_value(v.strip(), base) for v in spec.split(",") if v.strip()]
    return knob(policy, key, values)


def _parse_value(text: str, base: Any) -> Any:
    if isinstance(base, bool) or isinstance(base, str):
        return {"true": True, "false": False}.get(text.lower(), text) if isinstance(base, bool) else text
    try:
        return int(text) if isinstance(base, int) else float(text)
    except ValueError:
        return text  # the policy check names it


@dataclass
class Partitioner:
    """Re-runs the optimizer under a point's grid rules (one task per distinct set of rules); with a plan
    cache (``cache_dir``, :func:`gridsim.scenario_plan.scenario_plan`) a point whose rules a report has
    already partitioned under (a scenario's, e.g. the baseline's own cap) is read from it, and a new one
    is stored there."""

    homes: Any
    graph: Any
    policy: Any
    seed: int = 0
    time_limit: float | None = None
    cache_dir: str = ""

    def __call__(self, values: Mapping[str, Any], plan: str | None = None) -> dict:
        from .partition import partition

        policy = self.policy.with_overrides(dict(values))
        if self.cache_dir:
            from .graph import build_graph
            from .scenario_plan import scenario_plan

            graph = self.graph if self.graph is not None else build_graph(self.homes)  # as partition builds it
            result = scenario_plan(self.homes, graph, policy, seed=self.seed, time_limit=self.time_limit,
                                   cache_dir=self.cache_dir, workers=1)[0]
        else:
            result = partition(self.homes, self.graph, policy=policy, seed=self.seed, time_limit=self.time_limit,
                               workers=1)
        return {"plan": result.plan, "diagnoses": len(result.diagnoses), "hit_time_limit": result.hit_time_limit}


def _grid_rules(policy) -> tuple:
    """What decides the plan: the values of every parameter the optimizer reads."""
    from .scenario_plan import optimizer_policy

    return tuple(optimizer_policy(policy).items())


def knob_sweep(homes, graph, policy, knobs: Sequence[Knob], *, draws: int, seed: int = 0, plan=None,
               partition_seed: int | None = None, time_limit: float | None = None, year: int | None = None,
               client=None, progress: bool = True, plan_cache: str = "") -> SweepResult:
    """Price every point of one or two knobs (their Cartesian product), re-partitioning where the grid rules
    change (through the plan cache ``plan_cache`` when given: :class:`Partitioner`). ``plan``: the plan
    priced when no knob changes the grids (default: the optimizer's plan under ``policy``); it cannot be
    combined with a knob that changes the grids. Each row of ``table``: the knob
    values, ``grids``, ``violations``, ``diagnoses`` (units the optimizer could not make fully legal), money
    P5/P50/P95 by funder and the assessment rates."""
    if not 1 <= len(knobs) <= 2:
        raise GridsimError(f"旋钮扫描需要一到两个旋钮 (a knob sweep takes one or two knobs), 得到 got {len(knobs)}")
    if len({k.key for k in knobs}) < len(knobs):
        raise GridsimError("两个旋钮不能是同一参数 (the two knobs must be different parameters)")
    started = time.monotonic()
    points = [dict(zip([k.key for k in knobs], combo)) for combo in itertools.product(*[k.values for k in knobs])]
    policies = []
    for p in points:  # every point's policy before any run: a floor above its ceiling is named here
        shown = ", ".join(f"{k}={v}" for k, v in p.items())
        try:
            policies.append(policy.with_overrides(p))
        except GridsimError as exc:
            raise GridsimError(f"--knob 点 (point) {shown}: {exc}") from None
    regrid = any(k.changes_grids for k in knobs)
    if regrid and plan is not None:
        raise GridsimError("改变网格规则的旋钮会重新优化网格，不能同时给出 --plan (a knob that changes the grid rules "
                           "re-partitions; it cannot be combined with a given plan)")
    seed_p = seed if partition_seed is None else partition_seed
    rules = [_grid_rules(pol) for pol in policies]
    distinct = list(dict.fromkeys(rules)) if regrid else [_grid_rules(policy)]
    names = {r: f"plan{i + 1}" for i, r in enumerate(distinct)}
    facts: dict[str, dict] = {}
    if plan is None:
        grid_values = [{k: v for k, v in r if v != policy[k]} for r in distinct]
        parts = run_tasks(Partitioner(homes, graph, policy, seed_p, time_limit, str(plan_cache or "")),
                          [{"values": v} for v in grid_values],
                          client=client, progress=progress, desc="网格优化 partition")
        plans = {names[r]: res["plan"] for r, res in zip(distinct, parts)}
        facts = {names[r]: res for r, res in zip(distinct, parts)}
    else:
        plans = {names[distinct[0]]: plan}
    model = BudgetRun(plans, policy, draws, seed, uncertain=True, year=year)
    tasks = [{"values": p, "plan": names[r] if regrid else names[distinct[0]]} for p, r in zip(points, rules)]
    results = run_tasks(model, tasks, client=client, progress=progress, desc="经费模拟 budget")
    rows = []
    for task, res in zip(tasks, results):
        fact = facts.get(task["plan"], {})
        rows.append({**task["values"], "plan": task["plan"], **res, "diagnoses": fact.get("diagnoses", np.nan),
                     "hit_time_limit": fact.get("hit_time_limit", False)})
    table = pd.DataFrame(rows)
    return SweepResult("knob", table, runs_frame(tasks, results),
                       _meta("knob", model, client, started, runs=len(tasks), knobs=[k.key for k in knobs],
                             knob_labels={k.key: k.label for k in knobs},
                             partitions=len(plans) if plan is None else 0, points=len(points)))


# ---------------------------------------------------------------------------------------------------
# Break-even


def crossings(x: np.ndarray, y: np.ndarray, line: float) -> list[float]:
    """Where the curve through ``(x, y)`` (PCHIP: monotone between points, no overshoot) equals ``line``,
    by ``brentq`` on each interval whose ends lie on opposite sides (or on the line)."""
    from scipy.interpolate import PchipInterpolator
    from scipy.optimize import brentq

    order = np.argsort(x)
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    if len(x) < 2 or not np.all(np.diff(x) > 0):
        raise GridsimError("盈亏平衡需要至少两个不同的旋钮取值 (break-even needs at least two distinct knob values)")
    f = PchipInterpolator(x, y)
    roots: list[float] = []
    for i in range(len(x) - 1):
        a, b = y[i] - line, y[i + 1] - line
        if a == 0:
            roots.append(float(x[i]))
        elif a * b < 0:
            roots.append(float(brentq(lambda t: float(f(t)) - line, x[i], x[i + 1], xtol=1e-9)))
    if y[-1] == line:
        roots.append(float(x[-1]))
    return sorted(set(roots))


def break_even(table: pd.DataFrame, key: str, output: str, line: float, *, by: str | None = None) -> pd.DataFrame:
    """The value of knob ``key`` at which ``output`` crosses ``line`` — per value of the second knob ``by``.

    ``output`` is a banded money figure (``total``, ``district``, ``subdistrict``: the P50 curve gives the
    estimate, the P5 and P95 curves the band) or any column of a knob sweep's table (``unqualified``,
    ``grids`` …: no band). A curve that never reaches the line within the swept values gives an empty
    value and says so; one that crosses it more than once gives its first crossing and says how many.
    """
    if key not in table.columns:
        raise GridsimError(f"扫描结果中没有旋钮 (no such knob in the sweep) {key!r}")
    banded = output in BANDED
    if not banded and output not in table.columns:
        raise GridsimError(f"盈亏平衡的输出未知 (unknown break-even output) {output!r}；可用 (available): "
                           f"{list(BANDED) + [c for c in OUTPUTS if c in table.columns and not c.endswith(('_p5', '_p50', '_p95'))]}")
    if not pd.api.types.is_numeric_dtype(table[key]):
        raise GridsimError(f"旋钮 {key} 不是数值，没有盈亏平衡点 (knob is not numeric; no break-even value)")
    groups = table.groupby(by, sort=False) if by else [(None, table)]
    rows = []
    for value, part in groups:
        x = part[key].to_numpy(float)
        curves = {q: part[f"{output}_{q}"].to_numpy(float) for q in ("p5", "p50", "p95")} if banded \
            else {"p50": part[output].to_numpy(float)}
        found = {q: crossings(x, y, line) for q, y in curves.items()}
        central = found["p50"]
        band = [r[0] for q, r in found.items() if q != "p50" and r]
        notes = []
        if not central:
            notes.append(f"中位数在扫描范围 [{x.min():g}, {x.max():g}] 内未达到该线 (the median does not reach the line "
                         "within the swept range)")
        elif len(central) > 1:
            notes.append(f"中位数穿越该线 {len(central)} 次，取第一次 (the median crosses {len(central)} times; first shown)")
        if banded and len(band) < 2:
            notes.append("区间一端在扫描范围外 (one end of the band lies outside the swept range)")
        row = {"output": output, "output_label": BANDED.get(output, _label(output)), "line": float(line), "knob": key}
        if by:
            row.update({"by": by, "by_value": value[0] if isinstance(value, tuple) else value})
        row.update({"value": central[0] if central else np.nan,
                    "band_low": min(band) if banded and len(band) == 2 else np.nan,
                    "band_high": max(band) if banded and len(band) == 2 else np.nan,
                    "note": "；".join(notes)})
        rows.append(row)
    return pd.DataFrame(rows)
