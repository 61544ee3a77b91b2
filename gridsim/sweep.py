"""Sweeps: many independent budget runs, described up front, run on a Dask cluster, gathered in task order.

A sensitivity analysis (:mod:`gridsim.sensitivity`) is a list of runs that differ only in a few parameter
values. This module holds what every such analysis shares:

* **the factors** (:class:`Factor`, :func:`ranged_factors`): the parameters that vary and over what interval.
  By default every parameter with a ``range`` in ``data/policy`` — the empirical unknowns the Monte Carlo
  draws (``Parameter.drawn``) and the choices whose range is the span the subdistrict is weighing — each
  over its own range, so one analysis answers both "which unknown makes the band wide" and "which of our
  choices moves the bill". Every interval is checked against the parameter's ``valid`` interval and type
  *before* any run starts (:class:`~gridsim.errors.GridsimError`, Chinese with English beside).
* **one run** (:class:`BudgetRun`): ``simulate_budget(plan, policy.with_overrides(values), draws, seed,
  uncertain=...)`` reduced to the figures finance and leaders ask about (:data:`OUTPUTS`): the first year's
  funding P5/P50/P95 in total and per funder, and the unqualified / criticism / termination rates — computed
  by :func:`gridsim.budget.funding_figures` (the same Monte Carlo and numbers, none of the frames). Every
  run of an analysis uses the same seed (common random numbers), so two runs differ by their inputs, not
  by noise, and a run's result depends only on its inputs and the seed.
* **execution** (:func:`dask_client`, :func:`run_tasks`): the runs are independent tasks on a
  ``dask.distributed`` client — by default a :class:`~distributed.LocalCluster` of worker processes on
  this machine's cores, started and stopped here (nothing to start by hand), or an existing cluster by its
  scheduler address. An address that does not answer within a few seconds is an error before any run
  starts. Runs are sent in batches (fewer, larger tasks keep Dask's per-task overhead small), shown with a
  progress bar (tqdm, on stderr: the terminal, or live under a notebook cell), and gathered in task order, so the
  result is the same for any number of workers — and the same as ``client=None``, which runs everything
  in this process.
* **the result** (:class:`SweepResult`) and its files (:func:`write_sweep`: CSVs and ``sensitivity.xlsx``,
  all or nothing through :func:`gridsim.outputs.staged`).
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd

from .errors import GridsimError, PolicyError
from .workload import parts_keys, plan_parts

#: the figures one run yields: name -> Chinese label (English beside)
OUTPUTS = {
    "total_p5": "年度经费合计 P5（元）total P5", "total_p50": "年度经费合计 P50（元）total P50",
    "total_p95": "年度经费合计 P95（元）total P95",
    "district_p5": "区级资金 P5（元）district P5", "district_p50": "区级资金 P50（元）district P50",
    "district_p95": "区级资金 P95（元）district P95",
    "subdistrict_p5": "街道资金 P5（元）subdistrict P5", "subdistrict_p50": "街道资金 P50（元）subdistrict P50",
    "subdistrict_p95": "街道资金 P95（元）subdistrict P95",
    "unqualified": "月度不合格比例 unqualified share", "criticism": "年度通报批评概率 criticism rate",
    "termination": "年度终止协议概率 termination rate",
    "grids": "网格数 grids", "violations": "违反规则处数 rule violations",
}
#: the outputs sensitivity indices and tornado swings are reported for (the others are bands or plan facts)
INDEX_OUTPUTS = ("total_p50", "total_p95", "district_p50", "subdistrict_p50", "subdistrict_p95",
                 "unqualified", "criticism", "termination")
#: money outputs that carry a P5–P95 band in a knob sweep: name -> label
BANDED = {"total": "年度经费合计 total", "district": "区级资金 district", "subdistrict": "街道资金 subdistrict"}

CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for a ``--scheduler`` address before calling it unreachable."""
TASKS_PER_WORKER = 16
"""Batches per worker (at least): enough that the last batches finish together (with 2 workers and 33 runs,
4 batches a worker left one worker 7 runs behind), few enough that Dask's ~1 ms a task stays negligible."""


# ---------------------------------------------------------------------------------------------------
# Factors


@dataclass(frozen=True)
class Factor:
    """One parameter that varies, over ``[low, high]``; ``integer`` parameters are rounded per run."""

    key: str
    low: float
    high: float
    baseline: float
    label: str = ""
    integer: bool = False

    def value(self, x: float):
        """The parameter value for a sampled ``x`` (rounded for integer parameters)."""
        return int(round(float(x))) if self.integer else float(x)


def ranged_keys(policy) -> list[str]:
    """Every parameter with a ``range``: the drawn empirical unknowns and the choices, in file order."""
    return [k for k in policy.keys() if policy.param(k).range is not None]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(policy, key: str, value: Any, what: str) -> None:
    """Refuse a value the policy would refuse (type, options, ``valid``), naming ``what`` (e.g. the option)."""
    try:
        policy.with_overrides({key: value})
    except PolicyError as exc:
        raise GridsimError(f"{what}: {exc}") from None


def factor(policy, key: str, bounds: tuple[float, float] | None = None, *, what: str = "--range") -> Factor:
    """The factor for ``key`` over ``bounds`` (default: its range), checked before anything runs."""
    if key not in policy:
        raise GridsimError(f"{what}: 未知参数 (unknown parameter) {key!r}；可用的有区间参数 (ranged parameters): "
                           f"{', '.join(ranged_keys(policy))}")
    p = policy.param(key)
    if not _is_number(p.value):
        raise GridsimError(f"{what}: 参数 {key}（{p.label}）不是数值，不能在区间上变化 "
                           f"(is not a number and cannot vary over an interval): {p.value!r}")
    if bounds is None:
        if p.range is None:
            raise GridsimError(f"{what}: 参数 {key}（{p.label}）没有区间，请用 --range {key}=低:高 给出 "
                               f"(has no range; give one with --range {key}=LOW:HIGH)")
        bounds = p.range
    low, high = (float(b) for b in bounds)
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise GridsimError(f"{what}: 参数 {key} 的区间为空 (the range is empty): [{low:g}, {high:g}]；"
                           "须低值小于高值 (low must be below high)")
    integer = isinstance(p.value, int)
    if integer and int(round(low)) == int(round(high)):
        raise GridsimError(f"{what}: 整数参数 {key} 的区间取整后为空 (the range of an integer parameter is empty "
                           f"after rounding): [{low:g}, {high:g}]")
    for end in (low, high):
        check_value(policy, key, int(round(end)) if integer else end, f"{what} {key}=[{low:g}, {high:g}]")
    return Factor(key, low, high, float(p.value), p.label, integer)


def ranged_factors(policy, keys: Sequence[str] | None = None,
                   ranges: Mapping[str, tuple[float, float]] | None = None) -> list[Factor]:
    """The factors of an analysis: ``keys`` (default: every ranged parameter, :func:`ranged_keys`), each
    over ``ranges[key]`` when given, else over its own range. Unknown keys, non-numbers, empty ranges
    and ranges outside a parameter's ``valid`` interval are refused here, before any run."""
    ranges = dict(ranges or {})
    keys = list(dict.fromkeys(keys if keys else ranged_keys(policy)))
    extra = [k for k in ranges if k not in keys]
    keys += extra  # a --range for a parameter not listed adds it
    if not keys:
        raise GridsimError("没有可变化的参数 (no parameters to vary)")
    return [factor(policy, k, ranges.get(k)) for k in keys]


# ---------------------------------------------------------------------------------------------------
# One run


def outputs_of(result) -> dict[str, float]:
    """The :data:`OUTPUTS` of one :class:`~gridsim.budget.BudgetResult` (first year of its horizon): the
    figures :func:`gridsim.budget.funding_figures` gives a run without the frames, read from the frames."""
    s = result.summary
    first = s[s["year"] == s["year"].iloc[0]].set_index("item")
    out: dict[str, float] = {}
    for name, item in (("total", "total"), ("district", "funder:district"), ("subdistrict", "funder:subdistrict")):
        for q in ("p5", "p50", "p95"):
            out[f"{name}_{q}"] = float(first.at[item, q])
    rates = result.assessment.rates()
    out.update({k: float(rates[k]) for k in ("unqualified", "criticism", "termination")})
    out["grids"] = float(result.meta["grids"])
    out["violations"] = float(result.meta["violations"])
    return out


@dataclass
class BudgetRun:
    """One budget run per set of parameter values: the model every analysis calls.

    ``plans`` maps a name to a :class:`~gridsim.plan.Plan` (a knob sweep that changes grid rules prices
    each point on its own plan); a task names the plan it uses (default: the first). The policy's own
    draws (``uncertain``) are independent of the values a task sets: a value set by a task is fixed, the
    other empirical unknowns are drawn around their values when ``uncertain`` is True.
    """

    plans: Mapping[str, Any]
    policy: Any
    draws: int
    seed: int
    uncertain: bool = False
    year: int | None = None
    _judged: dict = field(default_factory=dict, repr=False, compare=False)
    _parts: dict = field(default_factory=dict, repr=False, compare=False)

    def __call__(self, values: Mapping[str, Any], plan: str | None = None) -> dict[str, float]:
        from .budget import funding_figures

        policy = self.policy.with_overrides(dict(values)) if values else self.policy
        name = plan if plan is not None else next(iter(self.plans))
        rules = (name, tuple((k, policy[k]) for k in policy.keys() if k.startswith("grid.")))
        if rules not in self._judged:  # first run of this plan under these grid rules: the Plan itself, all checks
            out = funding_figures(self.plans[name], policy, self.draws, self.seed, year=self.year,
                                  uncertain=self.uncertain, workers=1)
            judged = self.plans[name].with_policy(policy)
            self._judged[rules] = (judged, judged.tallies(), out["violations"], parts_keys(judged.homes))
            return out
        # later runs: the same plan's tallies under the same grid rules (its checks are not redone in every one
        # of thousands of runs), and its workload parts under the same visit rules (the PARTS_KEYS the plan's
        # register makes them read; where they change from run to run, the tours are remembered, see
        # gridsim.workload.tour_length); same numbers
        judged, tallies, violations, keys = self._judged[rules]
        key = (rules, tuple(policy[k] for k in keys))
        if key not in self._parts:
            self._parts[key] = plan_parts(judged, policy)
        out = funding_figures(_CheckedTallies(tallies, self._parts[key]), policy, self.draws, self.seed,
                              year=self.year, uncertain=self.uncertain, workers=1)
        return {**out, "violations": violations}


@dataclass(frozen=True)
class _CheckedTallies:
    """A plan already priced once under these grid rules, reduced to its tallies: what ``funding_figures``
    reads of a plan (``tallies()``, ``workload_parts``), without the homes it would check again."""

    frame: pd.DataFrame
    parts: pd.DataFrame  # the plan's workload parts (tours through the homes' positions), computed once

    def tallies(self) -> pd.DataFrame:
        return self.frame

    def workload_parts(self, policy) -> pd.DataFrame:
        return self.parts


# ---------------------------------------------------------------------------------------------------
# Execution


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, *, processes: bool = True,
                timeout: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A ``dask.distributed.Client``: to ``scheduler`` (an address such as ``tcp://10.0.0.5:8786``) or, by
    default, to a local cluster of ``workers`` single-threaded worker processes (default: all cores),
    closed again on exit. An address that does not answer within ``timeout`` seconds is a
    :class:`~gridsim.errors.GridsimError`."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise GridsimError(f"无法连接 Dask 调度器 (cannot reach the Dask scheduler) {scheduler!r}："
                               f"{timeout:g} 秒内无应答或地址无效 (no answer within {timeout:g} s, or not an "
                               f"address): {exc}；未运行任何模拟 (nothing was run)") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = max(1, int(workers or os.cpu_count() or 1))
    # ":0": the scheduler's HTTP server (always started) takes a free port, never a clash on 8787
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0",
                           silence_logs=logging.CRITICAL)  # a Ctrl-C ends the workers: no log noise
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def workers_of(client) -> int:
    """How many workers (threads) the client's cluster has right now (at least 1)."""
    if client is None:
        return 1
    return max(1, sum(client.nthreads().values()))


def _batches(n: int, workers: int, batch: int | None) -> list[range]:
    size = batch or max(1, n // (workers * TASKS_PER_WORKER))
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def _run_batch(model: Callable, tasks: Sequence[Mapping[str, Any]]) -> list[dict]:
    return [model(**task) for task in tasks]


def run_tasks(model: Callable, tasks: Sequence[Mapping[str, Any]], *, client=None, progress: bool = True,
              desc: str = "模拟 runs", batch: int | None = None) -> list[dict]:
    """``[model(**task) for task in tasks]``, on the Dask ``client`` (or here when it is None).

    The model is sent to the workers once; tasks go in batches; results come back in task order, so
    they do not depend on the number of workers or the order runs finish in.
    """
    tasks = list(tasks)
    if not tasks:
        return []
    # a text bar on stderr, also in a notebook: Jupyter shows it live, and the reports (which drop stderr)
    # keep no frozen "0%" widget text
    from tqdm import tqdm

    if client is None:
        out = []
        with tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress) as bar:
            for task in tasks:
                out.append(model(**task))
                bar.update()
        return out
    from dask.distributed import as_completed

    batches = _batches(len(tasks), workers_of(client), batch)
    [shared] = client.scatter([model], broadcast=True, hash=False)
    futures = [client.submit(_run_batch, shared, [tasks[i] for i in b], pure=False) for b in batches]
    sizes = {f.key: len(b) for f, b in zip(futures, batches)}
    try:
        with tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress) as bar:
            for fut in as_completed(futures):
                if fut.status == "error":
                    fut.result()  # raises the run's own error here
                bar.update(sizes[fut.key])
        parts = client.gather(futures)
    finally:
        client.cancel(futures + [shared])
    return [row for part in parts for row in part]


# ---------------------------------------------------------------------------------------------------
# The result and its files


@dataclass
class SweepResult:
    """What one analysis found.

    ``mode`` (tornado | morris | sobol | knob); ``table``: the answer, tidy (per factor and output for
    tornado, Morris and Sobol; per point for a knob sweep); ``runs``: every run's inputs and outputs in
    task order; ``break_even``: the knob values where an output crosses a line (knob sweeps asked for it);
    ``meta``: how it was run (scenario, seed, draws per run, sample size, workers, seconds).
    """

    mode: str
    table: pd.DataFrame
    runs: pd.DataFrame
    meta: dict = field(default_factory=dict)
    break_even: pd.DataFrame | None = None


SWEEP_FILES = ("sweep.csv", "runs.csv", "break_even.csv", "sensitivity.xlsx")


def write_sweep(result: SweepResult, out_dir: str | Path) -> list[Path]:
    """Write ``sweep.csv`` (the table), ``runs.csv`` (every run), ``break_even.csv`` and ``sensitivity.xlsx``
    (the 敏感性 sheet) into ``out_dir``, all together or none."""
    from .outputs import staged
    from .workbook import write_sensitivity_workbook

    with staged(out_dir) as stage:
        result.table.to_csv(stage.dir / "sweep.csv", index=False, encoding="utf-8")
        result.runs.to_csv(stage.dir / "runs.csv", index=False, encoding="utf-8")
        # always written (header only when no break-even was asked), so no stale one from an earlier sweep stays
        empty = pd.DataFrame(columns=["output", "output_label", "line", "knob", "value", "band_low", "band_high", "note"])
        (empty if result.break_even is None else result.break_even).to_csv(stage.dir / "break_even.csv", index=False,
                                                                           encoding="utf-8")
        write_sensitivity_workbook(result, stage.dir / "sensitivity.xlsx")
    return stage.written


def runs_frame(tasks: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, float]]) -> pd.DataFrame:
    """One row per run: its set values (one column per key), then its outputs, in task order."""
    rows = []
    for i, (task, res) in enumerate(zip(tasks, results)):
        row = {"run": i, **task.get("values", {})}
        if task.get("plan") is not None:
            row["plan"] = task["plan"]
        row.update(res)
        rows.append(row)
    return pd.DataFrame(rows)

