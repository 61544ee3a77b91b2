"""What a grid plan pays out: base pay, performance pay, publicity rewards and training (三(一)3, 三(三), 三(七)).

Every amount is read from the :class:`~gridsim.policy.Policy`; the functions are vectorised (they take
scalars or numpy arrays) so the Monte Carlo in :mod:`gridsim.assessment` calls the very functions the
rule tests check. Per-grid tallies come from any ``home -> grid`` assignment (a plan CSV, today's map, or a
:class:`gridsim.plan.Plan`'s ``assignment``) by a pandas groupby.

Public API
----------
- :func:`grid_tallies` — per grid: unit, type, homes, households, resident and key households.
- :func:`basis_households`, :func:`base_pay_month`, :func:`pay_after_deduction` — 三(一)3 and 三(六).
- :func:`performance_pay` — the quarterly case-volume-and-quality pay (formula: assumption ``pay.performance.*``).
- :func:`observed_cases` — per grid and month: cases, on-time cases and summed quality from a cases register.
- :func:`publicity_rewards` — simulated adopted posts × reward per unit and month (三(七)).
- :func:`training_sessions` — sessions per month of a horizon (三(三)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError, Problem

TALLY_COLUMNS = ("unit_id", "unit_type", "homes", "households", "resident_households", "key_households")


def grid_tallies(homes: pd.DataFrame, grid_ids: pd.Series | None = None, *, source: str | None = None) -> pd.DataFrame:
    """Per-grid tallies of a plan, indexed by ``grid_id`` (sorted by unit, then grid).

    ``grid_ids`` is a Series aligned with ``homes`` (as :func:`gridsim.registers.read_plan` returns it) or a
    :class:`gridsim.plan.Plan` (its ``assignment``); ``None`` means today's map (``homes["current_grid_id"]``).
    A home without a grid, or a grid that spans two villages/communities (三(一): grids are drawn inside one
    unit), is an :class:`InputError`.
    Household totals are conserved: the tallies sum to the register's totals.
    """
    source = source or str(homes.attrs.get("source", "homes"))
    if grid_ids is None:
        if "current_grid_id" not in homes.columns:
            raise InputError(source, [Problem(source, None, "current_grid_id", None,
                                              "登记册没有现网格列，请给出网格方案 (no current grids; pass a plan)")])
        grid_ids = homes["current_grid_id"]
    grid_ids = getattr(grid_ids, "assignment", grid_ids)
    grid_ids = pd.Series(np.asarray(grid_ids, dtype=object), index=homes.index, name="grid_id")
    problems = []
    missing = grid_ids.isna() | grid_ids.map(lambda v: isinstance(v, str) and not v.strip())
    for pos in np.flatnonzero(missing.to_numpy())[:50]:
        problems.append(Problem(source, int(pos) + 1, "grid_id（网格编号）", homes["home_id"].iat[pos],
                                "住户没有分到网格 (home has no grid)"))
    frame = pd.DataFrame({"grid_id": grid_ids.astype("string"), "unit_id": homes["unit_id"].to_numpy(),
                          "unit_type": homes["unit_type"].to_numpy(), "households": homes["households"].to_numpy(),
                          "resident_households": homes["resident_households"].to_numpy(),
                          "key_households": homes["key_households"].to_numpy()})
    frame = frame[~missing.to_numpy()]
    spans = frame.groupby("grid_id")["unit_id"].nunique()
    for gid in spans.index[spans > 1]:
        units = sorted(frame.loc[frame["grid_id"] == gid, "unit_id"].unique())
        problems.append(Problem(source, None, "grid_id（网格编号）", gid,
                                f"网格跨越多个村（社）{units}，违反三(一) (grid spans several units)"))
    if problems:
        raise InputError(source, problems, headline="网格方案无法计价 (plan cannot be priced)")
    tallies = frame.groupby("grid_id").agg(
        unit_id=("unit_id", "first"), unit_type=("unit_type", "first"), homes=("unit_id", "size"),
        households=("households", "sum"), resident_households=("resident_households", "sum"),
        key_households=("key_households", "sum"))
    tallies.index = tallies.index.astype(str)
    tallies = tallies.reset_index().sort_values(["unit_id", "grid_id"]).set_index("grid_id")
    return tallies.astype({c: "int64" for c in TALLY_COLUMNS[2:]})[list(TALLY_COLUMNS)]


def basis_households(tallies: pd.DataFrame, policy) -> pd.Series:
    """The households base pay is counted on (三(一)3; assumption ``pay.base.basis``)."""
    return tallies[policy["pay.base.basis"]].rename("basis_households")


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

    Each village/community makes ``publicity.posts_per_unit_month`` posts a month; each is adopted with the
    replicate's ``adoption_rate`` (assumption ``publicity.adoption_rate``) and earns
    ``publicity.reward_yuan_per_adopted_post``.
    """
    p = np.asarray(adoption_rate, dtype=float).reshape(-1, 1, 1)
    posts = int(policy["publicity.posts_per_unit_month"])
    adopted = rng.binomial(posts, np.broadcast_to(p, (p.shape[0], n_months, n_units)))
    return adopted * float(policy["publicity.reward_yuan_per_adopted_post"])


def training_sessions(periods: pd.PeriodIndex, policy) -> np.ndarray:
    """Training sessions held in each month (三(三)): ``training.sessions_per_year`` spread evenly over the
    calendar year, each in the middle of its share of the year (2 a year -> April and October, one per half
    year as the plan's minimum asks)."""
    n = int(policy["training.sessions_per_year"])
    counts = np.zeros(len(periods), dtype=int)
    for k in range(n):
        counts += np.asarray(periods.month == int((k + 0.5) * 12 / n) + 1, dtype=int)
    return counts
