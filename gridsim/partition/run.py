"""``partition(...)``: the whole register, unit by unit, into a :class:`~gridsim.plan.Plan` with its report."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import GridsimError
from ..graph import HomeGraph, build_graph
from ..plan import Plan
from ..policy import Policy, load_policy
from .bounds import Diagnosis
from .problem import unit_problems
from .solve import Effort, UnitSolution, solve_unit
from .unit_cache import Claims
from .unit_cache import lookup as cache_lookup
from .unit_cache import store as cache_store
from .unit_cache import unit_key

MODES = ("fewest", "repair", "fixed")
POOL_MIN_HOMES = 2000  # below this many homes, starting worker processes costs more than it saves


@dataclass
class PartitionResult:
    """A partition and how good it is.

    ``plan``: the :class:`~gridsim.plan.Plan`; ``units``: one row per unit (bounds, grids, gap to the
    lower bound, violations, cut edges, groups split, households moved, seconds spent in this run,
    ``from_cache``: the solution came from the unit cache); ``diagnoses``: why units cannot be fully
    legal; ``hit_time_limit``: the deadline cut the search short somewhere (the result may then depend
    on machine speed); ``seconds``: wall time; ``units_cached``: units served by the unit cache.
    """

    plan: Plan
    units: pd.DataFrame
    diagnoses: list[Diagnosis]
    mode: str
    seed: int
    seconds: float
    hit_time_limit: bool = False
    current: str | None = None
    units_cached: int = 0

    def report(self) -> str:
        from .report import render

        return render(self)

    def write(self, out: str | Path, roads=None) -> dict[str, Path]:
        """Write ``out`` (home_id,grid_id), ``<out>_summary.csv`` (hours along ``roads``, a
        :class:`~gridsim.roads.RoadNetwork`, when given) and ``<out>_report.md`` beside it."""
        from .report import write

        return write(self, out, roads)


def _grids_for(unit_id: str, grids) -> int | None:
    if grids is None:
        return None
    if isinstance(grids, Mapping):
        return grids.get(unit_id)
    return int(grids)


def _solve(args) -> UnitSolution:
    prob, mode, seed_seq, k, effort, deadline = args
    return solve_unit(prob, mode, np.random.default_rng(seed_seq), grids=k, effort=effort, deadline=deadline)


def partition(homes: pd.DataFrame, graph: HomeGraph | None = None, *, policy: Policy | None = None,
              mode: str = "fewest", grids: int | Mapping[str, int] | None = None,
              current: str | None = "current_grid_id", seed: int = 0, time_limit: float | None = None,
              barriers=None, effort: Effort | None = None, workers: int | None = None, pinned=None,
              unit_cache: str | Path = "") -> PartitionResult:
    """Partition every unit of ``homes`` into grids that meet the policy's limits; see the package docstring.

    ``graph``: adjacency (built with :func:`gridsim.graph.build_graph` and ``barriers`` if None).
    ``mode``: ``fewest`` | ``repair`` | ``fixed``. ``grids``: for ``fixed``, grids per unit (one number
    for all, or ``{unit_id: n}``). ``current``: column with today's grids (objective "fewest households
    moved", the starting map in ``repair``, and grid ids carried over); None to ignore. ``seed``: same
    seed, same plan. ``time_limit``: seconds for the whole run (a cap; effort is counted in tries).
    ``workers``: processes (units are independent; results do not depend on it); default all cores,
    one process when the units left to solve have under ``POOL_MIN_HOMES`` homes. ``pinned``
    (``repair`` only): homes that keep the grid they have in ``current``, under its id — a set of home
    ids or a boolean array aligned with ``homes`` (the editor's locks); other homes may still join or
    leave those grids, and no two pinned grids are merged. ``unit_cache``: a folder of solved units
    (:mod:`.unit_cache`): a unit whose problem, mode, seed, effort and grid count were solved before (by
    the same code) is read from it instead of solved again, and each newly solved unit is stored there
    (unless the deadline cut it short); the plan is the same as without it.
    """
    t0 = time.monotonic()
    if mode not in MODES:
        raise GridsimError(f"未知模式 (unknown mode) {mode!r}; 可选 (choose from) {list(MODES)}")
    if mode == "fixed" and grids is None:
        raise GridsimError("fixed 模式需要指定网格数 --grids (fixed mode needs the number of grids)")
    if workers is not None and int(workers) < 1:
        raise GridsimError(f"进程数须为正整数 (workers must be a positive integer): {workers}")
    if grids is not None and not isinstance(grids, Mapping) and int(grids) < 1:
        raise GridsimError(f"网格数须为正整数 (grids must be a positive integer): {grids}")
    if current is not None and current not in homes.columns:
        if mode == "repair" or current != "current_grid_id":
            raise GridsimError(f"住户登记册没有现网格列 {current!r} (homes have no column {current!r})")
        current = None
    policy = policy or load_policy()
    graph = graph if graph is not None else build_graph(homes, barriers)
    reference = homes[current].to_numpy(dtype=object) if current else None
    pin_mask = _pin_mask(homes, pinned, mode, reference)
    probs = unit_problems(homes, graph, policy, reference, pin_mask)
    seqs = np.random.SeedSequence(seed).spawn(len(probs))
    deadline = None if time_limit is None else t0 + float(time_limit)
    effort = effort or Effort()
    jobs = [(p, mode, s, _grids_for(p.unit_id, grids), effort, deadline) for p, s in zip(probs, seqs)]
    sols, cached = _solutions(jobs, workers, unit_cache)
    assignment = _grid_ids(probs, sols, reference, graph.n)
    plan = Plan(homes, graph, assignment, policy)
    hours = _hours(plan, policy)
    units = _unit_table(plan, probs, sols, reference, hours)
    units["from_cache"] = cached
    diags = [d for s in sols for d in s.diagnoses] + _workload_diagnoses(plan, hours, sols, probs)
    return PartitionResult(plan, units, diags, mode, seed, time.monotonic() - t0,
                           any(s.hit_deadline for s in sols), current, sum(cached))


def _solutions(jobs: list, workers: int | None, unit_cache: str | Path) -> tuple[list[UnitSolution], list[bool]]:
    """Each job's unit solution, and whether it came from the unit cache (``unit_cache``, :mod:`.unit_cache`).

    With a cache: stored units are read; the others are claimed (:class:`.unit_cache.Claims`), solved on
    ``workers`` processes and stored; a unit another process is solving at the same time is waited for
    and read (or solved here if that process did not store it, e.g. its deadline cut it short)."""
    keys = [unit_key(*job[:5]) for job in jobs] if unit_cache else []
    sols: list[UnitSolution | None] = [None] * len(jobs)
    claims = Claims(unit_cache) if unit_cache else None

    def read(i: int) -> bool:
        t1 = time.monotonic()
        found = cache_lookup(unit_cache, keys[i], jobs[i][0])
        if found is not None:
            sols[i] = replace(found, seconds=time.monotonic() - t1)  # the time this run spent on the unit
        return found is not None

    mine, theirs = [], []
    for i in range(len(jobs)):
        if claims is None:
            mine.append(i)
        elif not read(i):
            if not claims.take(keys[i]):
                theirs.append(i)
            elif read(i):  # stored by another process between the look and the claim
                claims.release(keys[i])
            else:
                mine.append(i)
    solved = set(mine)
    try:
        for i, sol in _solve_each(jobs, mine, workers):  # each stored and let go as soon as it is solved
            sols[i] = sol
            if claims is not None:
                cache_store(unit_cache, keys[i], sol)
                claims.release(keys[i])
        for i in theirs:
            claims.wait(keys[i])
            if not read(i):
                sols[i] = _solve(jobs[i])
                solved.add(i)
                cache_store(unit_cache, keys[i], sols[i])
            claims.release(keys[i])
    finally:
        if claims is not None:
            claims.release_all()
    return sols, [i not in solved for i in range(len(jobs))]


def _solve_each(jobs: list, idx: list[int], workers: int | None):
    """``(i, solution)`` for each job ``jobs[i]``, ``i`` in ``idx``, as each is done, on ``workers``
    processes (default: all cores when those units have ``POOL_MIN_HOMES`` homes or more; big units
    first); the same solutions on any number of processes."""
    if workers is None:
        workers = (os.cpu_count() or 1) if sum(jobs[i][0].n for i in idx) >= POOL_MIN_HOMES else 1
    workers = max(1, min(int(workers), len(idx)))
    if workers == 1:
        for i in idx:
            yield i, _solve(jobs[i])
        return
    order = sorted(idx, key=lambda i: -jobs[i][0].n)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from zip(order, pool.map(_solve, [jobs[i] for i in order]))


def _pin_mask(homes: pd.DataFrame, pinned, mode: str, reference) -> np.ndarray | None:
    """``pinned`` as a boolean array aligned with ``homes`` (None when nothing is pinned), checked."""
    if pinned is None:
        return None
    if mode != "repair":
        raise GridsimError(f"固定住户只用于 repair 模式 (pinned homes need mode repair, not {mode!r})")
    if isinstance(pinned, np.ndarray) and pinned.dtype == bool:
        if len(pinned) != len(homes):
            raise GridsimError(f"固定住户标记长度 {len(pinned)} 与住户数 {len(homes)} 不一致 (pinned mask length mismatch)")
        mask = pinned.copy()
    else:
        ids = {str(h) for h in pinned}
        known = set(homes["home_id"].astype(str))
        unknown = sorted(ids - known)
        if unknown:
            raise GridsimError(f"未知的固定住户 (unknown pinned homes): {unknown[:5]}")
        mask = homes["home_id"].astype(str).isin(ids).to_numpy()
    without = mask & pd.isna(reference)
    if without.any():
        raise GridsimError(f"固定住户没有现网格，无法保持 (pinned homes without a current grid): "
                           f"{homes['home_id'].to_numpy()[without][:5].tolist()}")
    return mask if mask.any() else None


def _grid_ids(probs, sols, reference, n) -> np.ndarray:
    """Grid ids unique across units; a new grid keeps the id of the old grid it takes most households of."""
    out = np.empty(n, dtype=object)
    used: set[str] = set()
    for prob, sol in zip(probs, sols):
        k = int(sol.labels.max()) + 1
        names: dict[int, str] = {}
        if prob.pin is not None:  # a grid holding pinned homes keeps the id they have today
            for v in np.flatnonzero(prob.pin >= 0).tolist():
                names.setdefault(int(sol.labels[v]), str(reference[prob.nodes[v]]))
            used.update(names.values())
        if reference is not None:
            df = pd.DataFrame({"old": reference[prob.nodes], "new": sol.labels, "hh": prob.households})
            df = df[df["old"].notna()]
            over = df.groupby(["old", "new"])["hh"].sum().reset_index()
            over = over.sort_values(["hh", "old", "new"], ascending=[False, True, True], kind="stable")
            for old, new in zip(over["old"], over["new"]):
                old = str(old)
                if new not in names and old not in used and old.isascii():
                    names[int(new)] = old
                    used.add(old)
        taken = used | (set(map(str, reference[prob.nodes])) if reference is not None else set())
        j = 1
        for g in range(k):
            if g not in names:
                while f"{prob.unit_id}-g{j:02d}" in taken:
                    j += 1
                names[g] = f"{prob.unit_id}-g{j:02d}"
                used.add(names[g])
                taken.add(names[g])
        out[prob.nodes] = [names[int(g)] for g in sol.labels]
    return out


def _hours(plan: Plan, policy: Policy) -> pd.DataFrame | None:
    """Exact hours per grid (:func:`gridsim.workload.workload`) when the workload ceiling applies."""
    from ..workload import workload

    return workload(plan, policy) if policy["workload.ceiling_applies"] else None


def _workload_diagnoses(plan: Plan, hours: pd.DataFrame | None, sols, probs) -> list[Diagnosis]:
    """Every grid whose exact hours exceed the ceiling, named per unit (unless a home alone already
    proves it cannot be helped, which :func:`.bounds.diagnose` said)."""
    if hours is None:
        return []
    out = []
    over = hours[hours["over_ceiling"]]
    for prob, sol in zip(probs, sols):
        rows = over[over["unit_id"] == prob.unit_id]
        if rows.empty:
            continue
        names = "、".join(f"{g}（{h:.1f} 小时）" for g, h in rows["hours_month"].items())
        ceiling = float(rows["ceiling_hours"].iloc[0])
        out.append(Diagnosis(prob.unit_id, "workload_over_ceiling",
                             f"{prob.unit_id}：网格 {names} 的月工时超过上限 {ceiling:g} 小时 "
                             f"(grids above the workload ceiling of {ceiling:g} h a month: {', '.join(rows.index)})"))
    return out


def _unit_table(plan: Plan, probs, sols, reference, hours: pd.DataFrame | None = None) -> pd.DataFrame:
    viol = plan.violations_frame()
    per_unit = viol.groupby("unit_id").size() if len(viol) else pd.Series(dtype=int)
    rows = []
    for prob, sol in zip(probs, sols):
        sub = plan.homes.iloc[prob.nodes]
        grids = len(set(plan.grids_of(prob.nodes)))
        moved = plan.moved_households(reference, prob.unit_id) if reference is not None else 0
        codes = {d.code for d in sol.diagnoses}
        rows.append({
            "unit_id": prob.unit_id, "unit_type": prob.unit_type, "homes": prob.n,
            "households": int(prob.households.sum()), "resident_households": int(sub["resident_households"].sum()),
            "lower_bound": sol.lower, "upper_bound": sol.upper, "grids": grids, "gap": grids - sol.lower,
            "violations": int(per_unit.get(prob.unit_id, 0)),
            "feasible": not (codes - {"not_found", "grids_out_of_range", "workload_over_ceiling"}),
            "cut_edges": int(plan.cut_edges(unit_id=prob.unit_id)), "split_groups": plan.split_groups(prob.unit_id),
            "moved_households": moved,
            "max_hours_month": (round(float(hours.loc[hours["unit_id"] == prob.unit_id, "hours_month"].max()), 1)
                                if hours is not None else np.nan),
            "seconds": round(sol.seconds, 3),
        })
    return pd.DataFrame(rows)


def lower_bounds(homes: pd.DataFrame, graph: HomeGraph | None = None, *, policy: Policy | None = None,
                 barriers=None) -> pd.DataFrame:
    """Per unit, without optimizing: lower and upper bound on the number of grids and the structural
    diagnoses (the exact search's proven minimum and proofs come only with :func:`partition`)."""
    from .bounds import diagnose, piece_bounds, unit_bounds

    policy = policy or load_policy()
    graph = graph if graph is not None else build_graph(homes, barriers)
    rows = []
    for prob in unit_problems(homes, graph, policy, None):
        pieces = piece_bounds(prob)
        lo, hi = unit_bounds(prob, pieces)
        diags = diagnose(prob, pieces)
        rows.append({"unit_id": prob.unit_id, "unit_type": prob.unit_type, "homes": prob.n,
                     "households": int(prob.households.sum()), "ceiling": prob.A, "floor": prob.B,
                     "pieces": len(pieces), "lower_bound": lo, "upper_bound": hi, "feasible": not diags,
                     "diagnoses": "；".join(d.message for d in diags)})
    return pd.DataFrame(rows)
