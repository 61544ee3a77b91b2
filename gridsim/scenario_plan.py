"""One plan per scenario: the optimizer runs once, every page of the scenario reads the same stored plan.

The optimizer has a time limit, so two pages that each partition the register can show two different
plans. ``gridsim report`` therefore partitions once per scenario (:func:`scenario_plan`), writes the
result into the scenario's folder (:func:`save_plan`: ``plan.csv`` with ``home_id,grid_id``,
``plan_summary.csv`` with the grid tallies, ``plan_units.csv`` with the per-unit bounds and gaps, and
``plan.json`` with the key, the fingerprint and the diagnoses), and passes that folder to every notebook
as ``plan_path``; a notebook run on its own (``plan_path`` empty) computes the plan itself.

A cache (a folder of stored plans, one per key) may serve repeated runs. The key (:func:`plan_key`) is a
hash of everything the plan depends on: the register (every column of the homes frame), the adjacency
(edges, their kinds and weights: barriers change it), the values of the policy parameters the optimizer
reads (every ``grid.*`` parameter: :func:`optimizer_policy`), the seed, the time limit, the current-grid
column, the gridsim version and a digest of the package's source and policy files
(:func:`gridsim.result_cache.code_digest`: the version does not change while the code does). Any change
gives another key, so a cached plan is never stale; a stored
plan whose key differs from the inputs it is loaded with is refused (:class:`StalePlanError`).

:func:`fingerprint` is a short hash of the assignment itself: each page prints it (:func:`plan_line`), so a
reader, and a test, can check that every page of a scenario shows the same plan.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .errors import GridsimError
from .graph import HomeGraph
from .partition import Diagnosis, PartitionResult, partition
from .plan import Plan
from .policy import Policy
from .result_cache import code_digest, prune_entries

PLAN_FILES = ("plan.csv", "plan_summary.csv", "plan_units.csv", "plan.json")
#: the optimizer reads the grid rules, and — for the workload ceiling — the workload and visit parameters
#: (checked by tests/test_summary.py: a test fails if it starts reading anything else)
OPTIMIZER_PREFIXES = ("grid.", "workload.", "visits.")
FINGERPRINT_LABEL = "方案编号 plan id"
TODAY_LABEL = "现状方案编号 today's plan id"
UNIT_CACHE = "units"  # the folder of solved units inside a plan cache (plans sit in 20-hex-digit folders)


class StalePlanError(GridsimError):
    """A stored plan was made from other inputs than the ones it is loaded with."""


def _hash(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def register_hash(homes: pd.DataFrame, graph: HomeGraph) -> str:
    """A hash of the register's content (all columns but the geometry, which x/y repeat) and its adjacency."""
    frame = pd.DataFrame(homes.drop(columns=homes.geometry.name) if hasattr(homes, "geometry") else homes)
    cols = sorted(frame.columns)
    values = pd.util.hash_pandas_object(frame[cols].astype(str), index=False).to_numpy()
    return _hash(json.dumps(cols).encode(), values.tobytes(), np.ascontiguousarray(graph.edges, np.int64).tobytes(),
                 np.asarray(graph.kind, np.int64).tobytes(), np.asarray(graph.weight, np.float64).tobytes(),
                 np.asarray(graph.crosses_road, bool).tobytes())


def optimizer_policy(policy: Policy) -> dict:
    """The effective values of the parameters the optimizer reads (grid rules, workload and visits)."""
    return {k: policy[k] for k in sorted(policy.keys()) if k.startswith(OPTIMIZER_PREFIXES)}


def plan_key(homes: pd.DataFrame, graph: HomeGraph, policy: Policy, *, seed: int, time_limit: float | None,
             current: str | None = "current_grid_id") -> str:
    """The cache key of the plan the optimizer makes from these inputs (see the module docstring)."""
    meta = {"policy": optimizer_policy(policy), "seed": int(seed), "time_limit": time_limit,
            "current": current if current in homes.columns else None, "gridsim": __version__, "mode": "fewest",
            "code": code_digest()}
    return _hash(register_hash(homes, graph).encode(), json.dumps(meta, sort_keys=True, default=str).encode())


def fingerprint(plan: Plan) -> str:
    """Twelve hex digits that change whenever any home changes grid (grid ids included)."""
    frame = plan.to_frame().sort_values("home_id")
    text = "\n".join(f"{h},{g}" for h, g in zip(frame["home_id"], frame["grid_id"]))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def plan_line(result: PartitionResult, source: str = "") -> str:
    """The line each page prints under its title: the plan id, its grids and where it came from."""
    where = f"；读自 from {source}" if source else "；本页计算 computed on this page"
    return f"{FINGERPRINT_LABEL}: {fingerprint(result.plan)}（{result.plan.n_grids()} 个网格 grids{where}）"


def today_line(plan: Plan) -> str:
    return f"{TODAY_LABEL}: {fingerprint(plan)}（{plan.n_grids()} 个网格 grids）"


# ---------------------------------------------------------------------------------------------------
# Storing and loading


def save_plan(result: PartitionResult, folder: str | Path, key: str) -> Path:
    """Write the plan files into ``folder`` all together (a temporary folder renamed into place)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        result.plan.to_csv(tmp / "plan.csv")
        result.plan.summary().to_csv(tmp / "plan_summary.csv", index=False, encoding="utf-8")
        result.units.to_csv(tmp / "plan_units.csv", index=False, encoding="utf-8")
        meta = {"key": key, "fingerprint": fingerprint(result.plan), "grids": result.plan.n_grids(),
                "scenario": result.plan.policy.scenario.id, "optimizer_policy": optimizer_policy(result.plan.policy),
                "seed": result.seed, "mode": result.mode, "seconds": round(result.seconds, 2),
                "hit_time_limit": result.hit_time_limit, "current": result.current, "gridsim": __version__,
                "diagnoses": [{"unit_id": d.unit_id, "code": d.code, "message": d.message} for d in result.diagnoses]}
        (tmp / "plan.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}-old-{os.getpid()}")
            folder.rename(old)
        tmp.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def stored_key(folder: str | Path) -> str | None:
    """The key a stored plan was made with (None when the folder holds no complete plan)."""
    folder = Path(folder)
    if not all((folder / f).is_file() for f in PLAN_FILES):
        return None
    try:
        return json.loads((folder / "plan.json").read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_plan(folder: str | Path, homes: pd.DataFrame, graph: HomeGraph, policy: Policy, *, seed: int,
              time_limit: float | None, current: str | None = "current_grid_id") -> PartitionResult:
    """The stored plan in ``folder`` as a :class:`PartitionResult`, after checking it was made from these inputs."""
    folder = Path(folder)
    key = plan_key(homes, graph, policy, seed=seed, time_limit=time_limit, current=current)
    found = stored_key(folder)
    if found is None:
        raise GridsimError(f"找不到已存的网格方案 (no stored plan) in {folder}: 需要 (needs) {', '.join(PLAN_FILES)}")
    if found != key:
        raise StalePlanError(f"{folder} 中的网格方案由别的登记册、规则、种子或版本生成，不能用于本页 "
                             f"(the stored plan was made from other inputs: register, grid rules, seed, time limit or "
                             f"version differ)")
    meta = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    plan = Plan.from_csv(folder / "plan.csv", homes, graph, policy)
    units = pd.read_csv(folder / "plan_units.csv", dtype={"unit_id": str})
    diagnoses = [Diagnosis(d["unit_id"], d["code"], d["message"]) for d in meta["diagnoses"]]
    return PartitionResult(plan, units, diagnoses, meta["mode"], int(meta["seed"]), float(meta["seconds"]),
                           bool(meta["hit_time_limit"]), meta.get("current"))


def scenario_plan(homes: pd.DataFrame, graph: HomeGraph, policy: Policy, *, seed: int = 0,
                  time_limit: float | None = None, plan_path: str | Path = "", cache_dir: str | Path = "",
                  current: str | None = "current_grid_id", workers: int | None = None) -> tuple[PartitionResult, str]:
    """The scenario's plan and where it came from: ``plan_path`` (a stored plan, checked), else the cache
    (``cache_dir``, filled on a miss), else the optimizer (on ``workers`` processes; the plan does not depend
    on it). Returns ``(result, source)``. A plan not in the cache is made with the cache's per-unit store
    (``<cache_dir>/units``, :mod:`gridsim.partition.unit_cache`): units whose problem another scenario
    already solved (a village under a changed community cap) are read, not solved again."""
    if plan_path:
        return load_plan(plan_path, homes, graph, policy, seed=seed, time_limit=time_limit, current=current), \
            str(plan_path)
    if not cache_dir:
        return partition(homes, graph, policy=policy, seed=seed, time_limit=time_limit, current=current,
                         workers=workers), ""
    key = plan_key(homes, graph, policy, seed=seed, time_limit=time_limit, current=current)
    folder = Path(cache_dir) / key[:20]
    if stored_key(folder) == key:
        with contextlib.suppress(OSError):
            os.utime(folder)  # used now: the last to go when the cache is pruned (its files keep their times)
        return load_plan(folder, homes, graph, policy, seed=seed, time_limit=time_limit, current=current), \
            f"缓存 cache {folder.name}"
    result = partition(homes, graph, policy=policy, seed=seed, time_limit=time_limit, current=current,
                       workers=workers, unit_cache=Path(cache_dir) / UNIT_CACHE)
    save_plan(result, folder, key)
    return result, ""


PLAN_CACHE_KEEP_BYTES = 200_000_000
"""What :func:`prune_plan_cache` leaves of a plan cache: ~160 KB a plan (its files and its solved units), so about
1,200 plans; the code is in every key (:func:`plan_key`), so each new gridsim version leaves the old plans
unreachable and, without pruning, the folder only grows."""


def prune_plan_cache(cache_dir: str | Path, keep_bytes: int = PLAN_CACHE_KEEP_BYTES) -> tuple[int, int]:
    """Remove the least recently used plans and solved units of a plan cache (by the time each was last
    stored or read) until at most ``keep_bytes`` are left; ``(entries removed, bytes freed)``. A unit
    another process is solving or reading (its claim held) is left for the next time."""
    from .partition.unit_cache import remove_unit

    folder = Path(cache_dir)
    if not folder.is_dir():
        return 0, 0
    plans = [d for d in folder.iterdir() if d.is_dir() and (d / "plan.json").is_file()]
    units = list((folder / UNIT_CACHE).glob("*.pkl"))

    def remove(path: Path) -> bool:
        if path.suffix == ".pkl":
            return remove_unit(path)
        shutil.rmtree(path, ignore_errors=True)
        return True

    return prune_entries(plans + units, keep_bytes, remove)
