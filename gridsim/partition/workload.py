"""The workload ceiling in the optimizer: each grid's hours a month (:mod:`gridsim.workload`) at most
``workload.ceiling_hours_month`` when ``workload.ceiling_applies`` is on.

During the search the hours come from :class:`gridsim.workload.WorkloadProxy` (running sums, O(1) a
move: visits and fixed duties exact, walking from the homes' first and second moments); the solver
checks its plan with the exact model (:meth:`UnitWorkload.exact_hours`, the tours of
:func:`gridsim.workload.tour_length`) and, where the exact hours exceed the proxy's, scales the proxy's
walking up and searches again (:meth:`UnitWorkload.calibrated`).

Penalty: hours above the ceiling count in tenths of an hour (:data:`EXCESS_UNITS_PER_HOUR`), added to
the households outside the limits, so a tenth of an hour over weighs like one household over. Balance
(the objective after the grid count): the largest grid's hours in steps of :data:`BALANCE_STEP_HOURS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..workload import (WorkloadParams, WorkloadProxy, check_positions, grid_parts, home_visits,
                        hours_from_parts, param_values)

EXCESS_UNITS_PER_HOUR = 10  # hours above the ceiling count in tenths of an hour in the penalty
BALANCE_STEP_HOURS = 2.0  # the balance term: the largest grid's hours, in steps of this many hours
CALIBRATION_ROUNDS = 2  # searches again with a scaled walking proxy at most this many times


def excess_units(hours: float, ceiling: float) -> int:
    """Hours above ``ceiling`` in penalty units (tenths of an hour, rounded up)."""
    over = hours - ceiling
    return int(math.ceil(over * EXCESS_UNITS_PER_HOUR - 1e-9)) if over > 0 else 0


def balance_units(hours: float) -> int:
    return int(math.ceil(hours / BALANCE_STEP_HOURS - 1e-9))


@dataclass(frozen=True)
class UnitWorkload:
    """Per-home workload inputs of one unit (or a piece of it) and the search's proxy over them."""

    params: WorkloadParams
    values: dict
    xy: np.ndarray
    key_visits: np.ndarray
    general_visits: np.ndarray
    key_home: np.ndarray
    key_assumed: bool
    proxy: WorkloadProxy

    @classmethod
    def of_register(cls, homes: pd.DataFrame, policy) -> "UnitWorkload | None":
        """The whole register's inputs, or None when the ceiling does not apply. Homes without a
        position are an InputError naming their rows (walking needs them)."""
        params = WorkloadParams.from_policy(policy)
        if not params.ceiling_applies:
            return None
        xy = check_positions(homes)
        kv, gv, assumed = home_visits(homes, params)
        key_home = homes["key_households"].to_numpy() > 0
        return cls.make(params, param_values(policy), xy, kv, gv, key_home, assumed)

    @classmethod
    def make(cls, params, values, xy, kv, gv, key_home, assumed, walk_scale: float = 1.0) -> "UnitWorkload":
        proxy = WorkloadProxy(xy, kv, gv, key_home, params, values, assumed)
        proxy.walk_scale = walk_scale
        return cls(params, values, xy, kv, gv, key_home, assumed, proxy)

    def subset(self, idx) -> "UnitWorkload":
        return self.make(self.params, self.values, self.xy[idx], self.key_visits[idx], self.general_visits[idx],
                         self.key_home[idx], self.key_assumed, self.proxy.walk_scale)

    def calibrated(self, scale: float) -> "UnitWorkload":
        """The same inputs with the proxy's walking multiplied by ``scale``."""
        return self.make(self.params, self.values, self.xy, self.key_visits, self.general_visits, self.key_home,
                         self.key_assumed, self.proxy.walk_scale * scale)

    @property
    def ceiling(self) -> float:
        return self.params.ceiling_hours

    @property
    def fixed(self) -> float:
        return float(self.values["workload.fixed_hours_month"])

    def visit_hours(self) -> np.ndarray:
        """Each home's visit hours a month (its visits alone, no walking)."""
        return self.proxy.rows[:, 3]

    def lower_bound(self, idx) -> int:
        """Grids needed at least for the visits of homes ``idx`` under the ceiling: every grid carries the
        fixed duties, so ``k ≥ Σ visit hours / (ceiling − fixed)``."""
        room = self.ceiling - self.fixed
        total = float(self.visit_hours()[idx].sum())
        return max(1, math.ceil(total / room - 1e-9)) if room > 0 else len(np.atleast_1d(idx))

    def over_alone(self) -> np.ndarray:
        """Homes whose visits alone, with the fixed duties, exceed the ceiling (no plan can help)."""
        return np.flatnonzero(self.fixed + self.visit_hours() > self.ceiling + 1e-9)

    def exact_hours(self, labels: np.ndarray) -> pd.DataFrame:
        """Exact hours per label (columns ``hours_month``, ``walk_hours``, ``proxy_walk_hours``)."""
        parts = grid_parts(self.xy, self.key_visits, self.general_visits, self.key_home, labels, self.params,
                           self.key_assumed)
        hours = hours_from_parts(parts, self.values)
        out = pd.DataFrame({"hours_month": hours["hours_month"], "walk_hours": hours["walk_hours"]}, index=parts.index)
        proxy = replace_scale(self.proxy, 1.0)
        walk = []
        for g in parts.index:
            s = proxy.sums(np.flatnonzero(labels == g))
            walk.append(proxy.hours(s) - self.fixed - s[3])
        out["proxy_walk_hours"] = walk
        return out


def replace_scale(proxy: WorkloadProxy, scale: float) -> WorkloadProxy:
    """A shallow copy of ``proxy`` with ``walk_scale`` set (the original is left alone)."""
    new = object.__new__(WorkloadProxy)
    new.__dict__.update(proxy.__dict__)
    new.walk_scale = scale
    return new


__all__ = ["UnitWorkload", "excess_units", "balance_units", "EXCESS_UNITS_PER_HOUR", "BALANCE_STEP_HOURS",
           "CALIBRATION_ROUNDS"]
