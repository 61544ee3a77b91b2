"""Visit workload of a grid worker against a documented capacity (三(四)5).

The plan asks for a visit to every 五必访 household at least monthly (``visits.key.min_per_month``) and to
every other family at least quarterly (``visits.general.min_per_quarter``). A month's due visits are
therefore ``key × key_per_month + general × general_per_quarter / 3`` where "general" are the households
of the visit basis (assumption ``visits.basis``) that are not 五必访. The grid worker (网格员) carries the
share ``visits.worker_share`` of them (三(四)7 splits duties between 网格长 and 网格员; a reading, baseline
all); only that share counts against the worker's capacity and in the worker's assessment. The capacity
(``visits.capacity_per_worker_month``) is an assumption; when the due visits exceed it, the excess share
is what a worker cannot do, and :func:`miss_probability` turns it into missed visits for the assessment.

Public API: :func:`key_households`, :func:`visit_counts`, :func:`visit_workload`, :func:`miss_probability`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def key_households(tallies: pd.DataFrame, policy) -> pd.Series:
    """五必访 households per grid. A register that lists none at all (all zero) gets the assumed share
    ``visits.key_household_share`` of the visit basis, rounded."""
    key = _key_counts(tallies["key_households"].to_numpy(), tallies[policy["visits.basis"]].to_numpy(), policy)
    return pd.Series(key, index=tallies.index, name="key_households")


def _key_counts(key: np.ndarray, basis: np.ndarray, policy) -> np.ndarray:
    if int(key.sum()) == 0:
        key = np.rint(basis * float(policy["visits.key_household_share"])).astype("int64")
    return key


def visit_counts(tallies: pd.DataFrame, policy) -> dict[str, np.ndarray]:
    """The visit columns of :func:`visit_workload` as arrays (``visits_due_month``, ``key_visits_month``,
    ``general_visits_month``, ``worker_visits_month``): what the assessment reads in every run, without
    building a frame (a sweep makes thousands of runs)."""
    basis = tallies[policy["visits.basis"]].to_numpy()
    key = _key_counts(tallies["key_households"].to_numpy(), basis, policy)
    general = np.maximum(basis - key, 0)
    key_due = key * int(policy["visits.key.min_per_month"])
    general_due = general * int(policy["visits.general.min_per_quarter"]) / 3.0
    share = float(policy["visits.worker_share"])
    worker_key = np.rint(key_due * share).astype("int64")
    worker_general = np.rint(general_due * share).astype("int64")
    return {"visits_due_month": np.rint(key_due + general_due).astype("int64"), "key_visits_month": worker_key,
            "general_visits_month": worker_general, "worker_visits_month": worker_key + worker_general}


def visit_workload(tallies: pd.DataFrame, policy, capacity: float | None = None) -> pd.DataFrame:
    """Per grid: visits due each month and the load against capacity.

    Columns: ``visits_due_month`` (all visits due in the grid), the worker's part of them —
    ``key_visits_month``, ``general_visits_month`` (the quarter's visits spread evenly), ``worker_visits_month``
    (integers) — and ``capacity_month``, ``load_ratio`` (the worker's visits / capacity), ``overload_share``
    (the share of the worker's visits beyond capacity, 0 when within it).
    """
    counts = visit_counts(tallies, policy)
    worker = counts["worker_visits_month"]
    cap = float(policy["visits.capacity_per_worker_month"] if capacity is None else capacity)
    return pd.DataFrame({
        **counts,
        "capacity_month": cap,
        "load_ratio": worker / cap,
        "overload_share": overload_share(worker.astype(float), cap),
    }, index=tallies.index)


def overload_share(due, capacity):
    """The share of due visits beyond capacity: ``max(0, due - capacity) / due`` (0 when nothing is due)."""
    due = np.asarray(due, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.maximum(due - capacity, 0.0) / due
    return np.where(due > 0, share, 0.0)


def miss_probability(base_rate, overload, policy, worker_effect=1.0):
    """Chance that a due visit is missed: ``worker_effect × base_rate + elasticity × overload_share``, in [0, 1].

    ``assessment.miss_rate_base`` is the miss rate within capacity; ``assessment.miss_rate_overload_elasticity``
    says how much of the excess load turns into misses (1 = all of it). Arrays broadcast.
    """
    elasticity = float(policy["assessment.miss_rate_overload_elasticity"])
    return np.clip(np.asarray(worker_effect) * np.asarray(base_rate) + elasticity * np.asarray(overload), 0.0, 1.0)
