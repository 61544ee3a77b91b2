"""What a grid plan pays out: base pay, performance pay, publicity rewards and training (三(一)3, 三(三), 三(七)).

Every amount is read from the :class:`~gridsim.policy.Policy`; the functions are vectorised (they take
scalars or numpy arrays) so the Monte Carlo in :mod:`gridsim.assessment` calls the very functions the
rule tests check. Per-grid tallies come from the :class:`gridsim.plan.Plan` (:meth:`~gridsim.plan.Plan.tallies`),
the one source of grid tallies; nothing here regroups homes by grid id.

Public API
----------
- :func:`tallies_of` — a Plan's per-grid tallies (or a tallies frame passed through).
- :func:`priced_months` — which months of a horizon the plan's new pay applies to (``timing.new_rules_start``).
- :func:`basis_households`, :func:`base_pay_month`, :func:`pay_after_deduction` — 三(一)3 and 三(六).
- :func:`performance_pay` — the quarterly case-volume-and-quality pay (formula: assumption ``pay.performance.*``).
- :func:`observed_cases` — per grid and month: cases, on-time cases and summed quality from a cases register.
- :func:`publicity_rewards` — simulated adopted posts × reward per unit and month (三(七)).
- :func:`training_sessions` — sessions per month of a horizon (三(三)), never fewer than the plan's minimum
  per half year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import GridsimError, InputError, Problem

TALLY_COLUMNS = ("unit_id", "unit_type", "homes", "households", "resident_households", "key_households",
                 "counted_households")


def tallies_of(plan) -> pd.DataFrame:
    """Per-grid tallies indexed by ``grid_id``: a :class:`~gridsim.plan.Plan`'s :meth:`~gridsim.plan.Plan.tallies`,
    or a frame that already is one (from a Plan, e.g. stored beside a report)."""
    if hasattr(plan, "tallies"):
        return plan.tallies()
    if isinstance(plan, pd.DataFrame) and set(TALLY_COLUMNS) <= set(plan.columns):
        return plan
    raise GridsimError("需要网格方案 Plan 或其 tallies() 表 (expected a gridsim.plan.Plan or its tallies frame)")


def priced_months(periods: pd.PeriodIndex, policy) -> np.ndarray:
    """Months priced at the plan's new pay and grids: from ``timing.new_rules_start`` on (a reading: the
    plan's pay standard is in force from the month deductions start, 2024-02; months before it belong to
    the arrangements the plan replaced and are not part of this plan's funding need)."""
    start = pd.Period(policy["timing.new_rules_start"], freq="M")
    return np.asarray(periods >= start)


def basis_households(tallies: pd.DataFrame, policy) -> pd.Series:
    """The households base pay is counted on (三(一)3; assumption ``pay.base.basis``): the count the grid's
    limits apply to (``grid_count``: planned households in a community, houses or registered households in a
    village by ``grid.village.count_basis``) or the resident households."""
    column = "counted_households" if policy["pay.base.basis"] == "grid_count" else "resident_households"
    return tallies[column].rename("basis_households")


def base_pay_month(households, policy):
    """Monthly base pay of a grid before deductions (三(一)3).

    ``pay.base.yuan_per_100_households_month`` per 100 households, pro rata or per full 100
    (``pay.base.rounding``), capped at ``pay.base.cap_yuan_month``. Baseline: 350 -> 600, 180 -> 360.
    """
    h = np.asarray(households, dtype=float)
    rate = float(policy["pay.base.yuan_per_100_households_month"])
    counted = np.floor(h / 100.0) * 100.0 if policy["pay.base.rounding"] == "per_full_100" else h
    pay = np.minimum(counted * rate / 100.0, float(policy["pay.base.cap_yuan_month"]))
    return pay if pay.ndim else float(pay)


def pay_after_deduction(base_pay, points, policy):
    """Base pay after a month's deducted points (三(六)): each point costs ``assessment.deduction_pct_per_point``
    percent of the month's base pay; floored at 0 when ``pay.base.floor_at_zero``. 5 points -> 95 %.
    """
    pay = np.asarray(base_pay, dtype=float) * (1.0 - np.asarray(points, dtype=float)
                                               * float(policy["assessment.deduction_pct_per_point"]) / 100.0)
    if policy["pay.base.floor_at_zero"]:
        pay = np.maximum(pay, 0.0)
    return pay if pay.ndim else float(pay)


def performance_pay(cases, on_time, quality_sum, policy, yuan_per_case=None, pool=None):
    """Quarterly performance pay of grid workers from case volume and quality (三(一)3).

    The plan says only that it is reckoned "根据季度办件量及质效"; the formula is a documented assumption.
    Each grid's merit is ``cases × (on-time share × mean quality / 100) ** quality_weight``; with
    ``pay.performance.method`` = ``per_case`` the pay is ``merit × yuan_per_case``, with ``pool`` a fixed
    quarterly pool (``pay.performance.pool_yuan_quarter``) is shared in proportion to merit over the grids
    along the last axis. Either way capped at ``pay.performance.cap_yuan_quarter`` a grid. ``cases``,
    ``on_time`` (cases closed on time) and ``quality_sum`` (sum of the cases' quality scores) are the
    quarter's totals; ``yuan_per_case`` and ``pool`` may be arrays of drawn values that broadcast.
    """
    n = np.asarray(cases, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = (np.asarray(on_time) / n) * (np.asarray(quality_sum) / n / 100.0)
    merit = n * np.where(n > 0, factor, 0.0) ** float(policy["pay.performance.quality_weight"])
    if policy["pay.performance.method"] == "pool":
        pool = float(policy["pay.performance.pool_yuan_quarter"]) if pool is None else np.asarray(pool)
        total = merit.sum(axis=-1, keepdims=True) if merit.ndim else merit
        with np.errstate(invalid="ignore", divide="ignore"):
            pay = np.where(total > 0, pool * merit / total, 0.0)
    else:
        price = float(policy["pay.performance.yuan_per_case"]) if yuan_per_case is None else np.asarray(yuan_per_case)
        pay = merit * price
    pay = np.minimum(pay, float(policy["pay.performance.cap_yuan_quarter"]))
    return pay if pay.ndim else float(pay)


def observed_cases(cases: pd.DataFrame, grid_index: pd.Index, periods: pd.PeriodIndex) -> dict[str, np.ndarray] | None:
    """Cases, on-time cases and summed quality per grid and month (arrays ``grids x months``).

    Returns ``None`` when the register does not cover every month of ``periods`` (then the caller simulates).
    Cases of grids not in ``grid_index`` mean the register belongs to another map: an :class:`InputError`.
    """
    month = cases["date"].dt.to_period("M")
    if not set(periods).issubset(set(month.unique())):
        return None
    unknown = sorted(set(cases["grid_id"]) - set(grid_index))
    if unknown:
        src = str(cases.attrs.get("source", "cases"))
        raise InputError(src, [Problem(src, None, "grid_id（网格编号）", g, "办件所属网格不在方案中 (case grid not in plan)")
                               for g in unknown[:50]], headline="办件数据与网格方案不一致 (cases do not match the plan)")
    sel = month.isin(periods)
    c = cases.loc[sel]
    gi = grid_index.get_indexer(c["grid_id"])
    mi = pd.PeriodIndex(month[sel]).asi8 - periods.asi8[0]
    shape = (len(grid_index), len(periods))
    out = {}
    for name, w in (("n", np.ones(len(c))), ("on_time", c["on_time"].to_numpy(float)), ("quality_sum", c["quality"].to_numpy(float))):
        arr = np.zeros(shape)
        np.add.at(arr, (gi, mi), w)
        out[name] = arr
    return out


def publicity_rewards(n_units: int, n_months: int, adoption_rate, policy, rng: np.random.Generator) -> np.ndarray:
    """Rewards for adopted publicity posts, yuan, shape ``(replicates, months, units)`` (三(七)).

    ``publicity.posts_per_month`` posts a month — made by each village/community, or for the whole
    subdistrict (assumption ``publicity.posts_scope``; then the subdistrict's rewards are shown spread
    evenly over the units) — each adopted with the replicate's ``adoption_rate`` and earning
    ``publicity.reward_yuan_per_adopted_post``.
    """
    p = np.asarray(adoption_rate, dtype=float).reshape(-1, 1, 1)
    posts = int(policy["publicity.posts_per_month"])
    reward = float(policy["publicity.reward_yuan_per_adopted_post"])
    if policy["publicity.posts_scope"] == "subdistrict":
        adopted = rng.binomial(posts, np.broadcast_to(p, (p.shape[0], n_months, 1)))
        return np.broadcast_to(adopted * reward / n_units, (p.shape[0], n_months, n_units)).copy()
    adopted = rng.binomial(posts, np.broadcast_to(p, (p.shape[0], n_months, n_units)))
    return adopted * reward


def training_sessions(periods: pd.PeriodIndex, policy) -> np.ndarray:
    """Training sessions held in each month (三(三)): ``training.sessions_per_year`` spread evenly over the
    calendar year, each in the middle of its share of the year (2 a year -> April and October). A half year
    that would get fewer than the plan's ``training.min_sessions_per_half_year`` is topped up to it (the
    extra sessions in its middle month, April or October): the budget never prices less training than the
    plan requires."""
    n = int(policy["training.sessions_per_year"])
    least = int(policy["training.min_sessions_per_half_year"])
    per_month = np.zeros(12, dtype=int)
    for k in range(n):
        per_month[int((k + 0.5) * 12 / n)] += 1
    for first, middle in ((0, 3), (6, 9)):
        short = least - per_month[first:first + 6].sum()
        if short > 0:
            per_month[middle] += short
    return per_month[np.asarray(periods.month) - 1]
