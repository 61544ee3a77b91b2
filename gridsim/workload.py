"""A grid worker's monthly hours: visits, walking between homes and fixed duties (三(二), 三(四)5).

三(二) asks for merged grids "确保整合后的工作网格员能够承担下来"; 三(四)5 fixes the visits (every 五必访
household at least monthly, every other family at least quarterly). This module turns a grid's homes into
the hours a month its worker needs, so the optimizer can keep a ceiling on them, the editor can show them
and the assessment can let misses grow from the hours a worker lacks.

The model (all parameters in ``data/policy/assumptions.yaml``, block ``workload.*``):

* **Visits.** The worker's due visits of :func:`gridsim.visits.visit_workload` (五必访 ``key`` visits monthly,
  the others quarterly spread over the months, times ``visits.worker_share``) × minutes per visit
  (``workload.minutes_per_key_visit``, ``workload.minutes_per_general_visit``).
* **Walking.** Two rounds and the outings that carry them:

  - a *key round* through the homes holding 五必访 households, ``visits.key.min_per_month`` times a month,
    and an *all-homes round* through every home, ``visits.general.min_per_quarter / 3`` times a month;
    both times ``visits.worker_share`` (the worker walks his share of the rounds). A round's length is
    the shortest closed tour through the distinct positions (stacked homes are one point): exact
    (Held–Karp) up to :data:`EXACT_MAX_POINTS` points, networkx's greedy tour polished by 2-opt up to
    :data:`HEURISTIC_MAX_POINTS` points, and above that the Beardwood–Halton–Hammersley estimate
    ``0.7124·sqrt(n·A)`` with ``A`` the area of the points' convex hull (never less than the hull's
    perimeter, which every closed tour through the hull's corners must walk).
    Where the register lists no 五必访 household at all (the share ``visits.key_household_share`` is
    assumed), the key round is the all-homes round scaled by ``sqrt(key households / homes)`` (BHH:
    a tour through a random ``m`` of ``n`` points in the same area is ``sqrt(m/n)`` as long).
  - *outings*: a worker does not visit a grid in one go; every ``workload.visits_per_outing`` visits he
    goes out from and back to the grid's centre, ``2 × r̄`` per outing with ``r̄`` the mean distance of the
    grid's homes from their centroid (Daganzo's line-haul term of the distance to visit points in tours
    of limited size).

  The straight-line distance × ``workload.circuity`` (roads are longer than straight lines; Boeing 2019:
  mostly 1.1–1.4) at ``workload.travel_speed_kmh`` (walking 4.5–5 km/h, cycling 12–15 km/h). With the
  user's road network (:mod:`gridsim.roads`), each grid's circuity is measured along the roads instead.
* **Fixed duties**: ``workload.fixed_hours_month`` (meetings, platform reporting, training).

Hours grow with spread at equal households (longer rounds, longer outings). The tour is a model, not a
route: the rounds are lower bounds on the walking of the visits they carry, the outings add the walks to
and from them.

Public API: :class:`WorkloadParams` (from a policy, checked), :func:`tour_length`, :func:`held_karp`,
:func:`bhh_length`, :func:`grid_parts` / :func:`hours_from_parts` (per-grid quantities and their hours,
vectorised over parameter draws), :func:`workload` (a Plan's grids → per-grid frame), :func:`tallies_parts`
(visits only, for tallies without positions), :func:`parts_of`, :func:`parts_keys`, :func:`hours_overload`, :class:`WorkloadProxy` (the optimizer's
incremental estimate).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError, PolicyError, Problem

BHH_CONSTANT = 0.7124  # Beardwood–Halton–Hammersley constant (Applegate et al.'s estimate)
EXACT_MAX_POINTS = 9  # tours through at most this many points are exact (Held–Karp)
HEURISTIC_MAX_POINTS = 200  # ... up to this many by networkx's greedy tour + 2-opt; BHH above
TWO_OPT_MAX_PASSES = 50  # 2-opt passes at most (each pass tries every pair of tour edges)
PROXY_AREA_FACTOR = 4.0 * math.pi  # area ≈ 4π·sqrt(det Σ) (exact for a uniform disc; 12 for a square)

#: the parameters :func:`plan_parts` depends on (the worker's share and cadence of visits, the assumed 五必访
#: share where a register lists none, the visit basis): parts computed once stay valid while these stay put
PARTS_KEYS = ("visits.worker_share", "visits.key.min_per_month", "visits.general.min_per_quarter",
              "visits.key_household_share", "visits.basis")



def parts_keys(homes: pd.DataFrame) -> tuple[str, ...]:
    """The :data:`PARTS_KEYS` :func:`plan_parts` reads for these homes: all of them, less the assumed 五必访
    share where the register lists its 五必访 households (then the share is never read) — so a sweep that
    varies that share does not remake parts that cannot change."""
    if float(homes["key_households"].sum()) == 0:
        return PARTS_KEYS
    return tuple(k for k in PARTS_KEYS if k != "visits.key_household_share")


WORKLOAD_KEYS = ("workload.minutes_per_key_visit", "workload.minutes_per_general_visit",
                 "workload.travel_speed_kmh", "workload.circuity", "workload.visits_per_outing",
                 "workload.fixed_hours_month", "workload.available_hours_month")
"""The empirical workload parameters (drawn per replicate by the assessment where they have a range)."""

COLUMNS_ZH = {
    "hours_month": "月工时 hours/month", "visit_hours": "走访工时 visit hours", "walk_hours": "行走工时 walking hours",
    "fixed_hours": "固定事务工时 fixed hours", "walk_km": "月行走里程 km/month", "tour_method": "巡回估算法 tour method",
    "circuity": "绕行系数 circuity (沿道路实测或假设)",
}


@dataclass(frozen=True)
class WorkloadParams:
    """The workload parameters of one policy, checked (see the module docstring for their meaning)."""

    minutes_key: float
    minutes_general: float
    speed_kmh: float
    circuity: float
    visits_per_outing: float
    fixed_hours: float
    available_hours: float
    ceiling_hours: float
    ceiling_applies: bool
    key_per_month: float
    general_per_quarter: float
    share: float
    basis: str
    key_household_share: float

    @classmethod
    def from_policy(cls, policy) -> "WorkloadParams":
        """Read and check; a ceiling that cannot hold even one visit on top of the fixed duties is a
        :class:`~gridsim.errors.PolicyError` naming the file and key."""
        p = cls(float(policy["workload.minutes_per_key_visit"]), float(policy["workload.minutes_per_general_visit"]),
                float(policy["workload.travel_speed_kmh"]), float(policy["workload.circuity"]),
                float(policy["workload.visits_per_outing"]), float(policy["workload.fixed_hours_month"]),
                float(policy["workload.available_hours_month"]), float(policy["workload.ceiling_hours_month"]),
                bool(policy["workload.ceiling_applies"]), float(policy["visits.key.min_per_month"]),
                float(policy["visits.general.min_per_quarter"]), float(policy["visits.worker_share"]),
                str(policy["visits.basis"]), float(policy["visits.key_household_share"]))
        one_visit = p.fixed_hours + max(p.minutes_key, p.minutes_general) / 60.0
        for key, value in (("workload.ceiling_hours_month", p.ceiling_hours),
                           ("workload.available_hours_month", p.available_hours)):
            if value < one_visit:
                raise PolicyError(
                    f"{_source(policy, key)}: {key} = {value:g} 小时低于固定事务加一次走访所需的 {one_visit:g} 小时 "
                    f"(below the fixed duties plus one visit, {one_visit:g} h)")
        return p

    def walk_hours_per_km(self) -> float:
        return self.circuity / self.speed_kmh


def _source(policy, key: str) -> str:
    """The file a parameter's value comes from: the scenario's when it overrides the key."""
    if key in policy.overridden():
        return str(policy.scenario.source)
    return "data/policy/assumptions.yaml"


# ---- tours

def _unique(xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return np.unique(xy, axis=0) if len(xy) else xy


def held_karp(xy: np.ndarray) -> float:
    """The exact shortest closed tour through the points (Held–Karp dynamic programme, O(2ⁿ·n²);
    meant for at most about a dozen points)."""
    pts = _unique(xy)
    n = len(pts)
    if n <= 1:
        return 0.0
    if n == 2:
        return 2.0 * float(np.hypot(*(pts[0] - pts[1])))
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    m = n - 1  # city 0 is the start; subsets of the others as bit masks
    full = 1 << m
    cost = np.full((full, m), np.inf)
    for j in range(m):
        cost[1 << j, j] = d[0, j + 1]
    for mask in range(1, full):
        row = cost[mask]
        if not np.isfinite(row).any():
            continue
        for k in range(m):
            if mask & (1 << k):
                continue
            new = mask | (1 << k)
            best = np.min(row + d[1:, k + 1])
            if best < cost[new, k]:
                cost[new, k] = best
    return float(np.min(cost[full - 1] + d[1:, 0]))


def _two_opt(d: np.ndarray, cycle: list[int]) -> float:
    """Polish a closed tour by 2-opt (reverse a stretch while that shortens it); return its length."""
    c = np.asarray(cycle[:-1] if cycle[0] == cycle[-1] else cycle)
    n = len(c)
    for _ in range(TWO_OPT_MAX_PASSES):
        improved = False
        for i in range(n - 2):
            j = np.arange(i + 2, n if i > 0 else n - 1)
            a, b, cc, dd = c[i], c[i + 1], c[j], c[(j + 1) % n]
            gain = d[a, cc] + d[b, dd] - d[a, b] - d[cc, dd]
            k = int(np.argmin(gain))
            if gain[k] < -1e-9:
                jj = int(j[k])
                c[i + 1:jj + 1] = c[i + 1:jj + 1][::-1]
                improved = True
        if not improved:
            break
    return float(d[c, np.roll(c, -1)].sum())


def greedy_cycle(d: np.ndarray) -> list[int]:
    """The nearest-neighbour tour from point 0 over the distance matrix ``d``, closed: the cycle networkx's
    ``greedy_tsp(from_numpy_array(d), source=0)`` gives (ties to the lowest index, as its set of integer nodes
    iterates in order; tests/test_workload.py compares the two), without building a complete graph — that
    was two thirds of the time of pricing a plan from cold."""
    left = np.ones(len(d), dtype=bool)
    left[0] = False
    cycle, here = [0], 0
    for _ in range(len(d) - 1):
        here = int(np.argmin(np.where(left, d[here], np.inf)))
        cycle.append(here)
        left[here] = False
    cycle.append(0)
    return cycle


def heuristic_tour(xy: np.ndarray) -> float:
    """The greedy (nearest-neighbour) tour polished by 2-opt."""
    pts = _unique(xy)
    if len(pts) <= 3:
        return held_karp(pts)
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    return _two_opt(d, greedy_cycle(d))


def bhh_length(xy: np.ndarray) -> float:
    """Beardwood–Halton–Hammersley estimate ``0.7124·sqrt(n·A)`` (``A``: convex hull area of the distinct
    points), never below the hull's perimeter."""
    from scipy.spatial import ConvexHull, QhullError

    pts = _unique(xy)
    n = len(pts)
    if n <= 3:
        return held_karp(pts)
    try:
        hull = ConvexHull(pts)
        area, perimeter = float(hull.volume), float(hull.area)
    except QhullError:  # all on one line: the tour walks it there and back
        span = pts.max(axis=0) - pts.min(axis=0)
        return 2.0 * float(np.hypot(*span))
    return max(BHH_CONSTANT * math.sqrt(n * area), perimeter)


def tour_length(xy: np.ndarray) -> tuple[float, str]:
    """Shortest closed tour through the distinct points (metres) and how it was found:
    ``exact`` | ``heuristic`` | ``bhh`` (see the module docstring).

    Remembered per set of points (:data:`TOUR_MEMO` sets): a sweep prices the same grids thousands of times
    with parameters that change the visits but not the homes' positions, and a tour (deterministic: greedy
    from the first point, then 2-opt) costs milliseconds to a second; the answer is the same either way."""
    pts = _unique(xy)
    return _tour_of(pts.tobytes(), len(pts))


TOUR_MEMO = 4096
"""Point sets whose tours are remembered (least recently used dropped): a few plans' grids, both rounds."""


@functools.lru_cache(maxsize=TOUR_MEMO)
def _tour_of(raw: bytes, n: int) -> tuple[float, str]:
    pts = np.frombuffer(raw, dtype=float).reshape(n, 2)
    if n <= EXACT_MAX_POINTS:
        return held_karp(pts), "exact"
    if n <= HEURISTIC_MAX_POINTS:
        return heuristic_tour(pts), "heuristic"
    return bhh_length(pts), "bhh"


# ---- per grid

def home_visits(homes: pd.DataFrame, params: WorkloadParams) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per home: the worker's 五必访 and other visits a month (floats), and whether the 五必访 households
    are assumed (the register lists none; ``visits.key_household_share`` of the visit basis)."""
    basis = homes[params.basis].to_numpy(float)
    key = homes["key_households"].to_numpy(float)
    assumed = bool(key.sum() == 0)
    if assumed:
        key = basis * params.key_household_share
    general = np.maximum(basis - key, 0.0)
    return (key * params.key_per_month * params.share,
            general * params.general_per_quarter / 3.0 * params.share, assumed)


def check_positions(homes: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """The homes' ``x, y`` (metres); homes without a position are an :class:`~gridsim.errors.InputError`
    naming each row (walking needs every home's position)."""
    src = str(homes.attrs.get("source", "homes"))
    if not {"x", "y"} <= set(homes.columns):
        raise InputError(src, [Problem(src, None, "x,y", None,
                                       "走访行走工时需要住户坐标 (walking hours need the homes' positions)")])
    xy = homes[["x", "y"]].to_numpy(float)
    bad = ~np.isfinite(xy).all(axis=1)
    if rows is not None:
        bad &= np.isin(np.arange(len(homes)), rows)
    if bad.any():
        raise InputError(src, [Problem(src, int(i) + 1, "x,y", homes["home_id"].iloc[i],
                                       "住户没有坐标，无法计算走访行走工时 (no position: walking hours cannot be computed)")
                               for i in np.flatnonzero(bad)])
    return xy


def grid_parts(xy: np.ndarray, key_visits: np.ndarray, general_visits: np.ndarray, key_home: np.ndarray,
               labels: np.ndarray, params: WorkloadParams, key_assumed: bool = False, roads=None) -> pd.DataFrame:
    """Per grid label: the parameter-free quantities the hours are made of.

    Columns: ``homes``, ``key_visits``, ``general_visits`` (the worker's, a month), ``tour_km`` (the
    straight-line km of the month's rounds, worker's share), ``radius_km`` (mean distance of the homes
    from their centroid), ``visits`` (all the worker's visits), ``tour_method``, and ``circuity`` (measured
    along ``roads``, a :class:`~gridsim.roads.RoadNetwork`; NaN without one: the assumed factor applies).
    """
    labels = np.asarray(labels)
    rows = []
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:]):
        idx = order[s:e]
        pts = xy[idx]
        full, method = tour_length(pts)
        if key_assumed:
            kh = float(key_visits[idx].sum() / max(params.key_per_month * params.share, 1e-12))
            n_pts = len(_unique(pts))
            key_len = full * math.sqrt(min(1.0, kh / max(n_pts, 1)))
        else:
            key_len = tour_length(pts[key_home[idx]])[0] if key_home[idx].any() else 0.0
        tour_m = params.share * (params.key_per_month * key_len + params.general_per_quarter / 3.0 * full)
        radius = float(np.hypot(*(pts - pts.mean(axis=0)).T).mean()) if len(pts) else 0.0
        kv, gv = float(key_visits[idx].sum()), float(general_visits[idx].sum())
        rows.append({"label": labels[idx[0]], "homes": len(idx), "key_visits": kv, "general_visits": gv,
                     "visits": kv + gv, "tour_km": tour_m / 1000.0, "radius_km": radius / 1000.0,
                     "tour_method": method, "circuity": roads.circuity(pts) if roads is not None else np.nan})
    return pd.DataFrame(rows).set_index("label") if rows else pd.DataFrame(
        columns=["homes", "key_visits", "general_visits", "visits", "tour_km", "radius_km", "tour_method", "circuity"])


def hours_from_parts(parts: pd.DataFrame | dict, values: dict) -> dict[str, np.ndarray]:
    """Hours from :func:`grid_parts`; ``values`` maps the :data:`WORKLOAD_KEYS` to numbers or arrays that
    broadcast against the grids (e.g. ``(draws, 1)`` columns), so parameter draws cost one expression.

    Returns ``visit_hours``, ``walk_km``, ``walk_hours``, ``fixed_hours``, ``hours_month``.
    """
    def col(name):
        return np.asarray(parts[name], dtype=float)

    kv, gv, visits = col("key_visits"), col("general_visits"), col("visits")
    visit_h = (kv * values["workload.minutes_per_key_visit"] + gv * values["workload.minutes_per_general_visit"]) / 60.0
    outings_km = 2.0 * col("radius_km") * visits / values["workload.visits_per_outing"]
    measured = col("circuity") if "circuity" in parts else np.full(len(visits), np.nan)
    circuity = np.where(np.isfinite(measured), measured, values["workload.circuity"])  # along the roads if known
    walk_km = (col("tour_km") + outings_km) * circuity
    walk_h = walk_km / values["workload.travel_speed_kmh"]
    fixed = np.broadcast_to(np.asarray(values["workload.fixed_hours_month"], float), np.broadcast(visit_h, walk_h).shape)
    return {"visit_hours": visit_h, "walk_km": walk_km, "walk_hours": walk_h, "fixed_hours": fixed,
            "hours_month": visit_h + walk_h + fixed}


def param_values(policy) -> dict[str, float]:
    return {k: float(policy[k]) for k in WORKLOAD_KEYS}


def plan_parts(plan, policy=None, roads=None) -> pd.DataFrame:
    """:func:`grid_parts` of a :class:`~gridsim.plan.Plan`'s grids, indexed by ``grid_id`` (with ``unit_id``);
    ``roads``: a :class:`~gridsim.roads.RoadNetwork` to measure walking along. Homes without a position are
    an InputError naming their rows."""
    policy = plan.policy if policy is None else policy
    params = WorkloadParams.from_policy(policy)
    homes = plan.homes
    assign = plan.assignment.to_numpy(dtype=object)
    idx = np.flatnonzero(pd.notna(assign))
    xy = check_positions(homes, idx)
    kv, gv, assumed = home_visits(homes, params)
    key_home = homes["key_households"].to_numpy() > 0
    grid = assign[idx].astype(str)
    parts = grid_parts(xy[idx], kv[idx], gv[idx], key_home[idx], grid, params, assumed, roads)
    unit = pd.Series(homes["unit_id"].to_numpy(dtype=object)[idx], index=grid)
    parts.insert(0, "unit_id", unit.groupby(level=0).first().reindex(parts.index))
    parts.index.name = "grid_id"
    return parts


def workload(plan, policy=None, roads=None) -> pd.DataFrame:
    """Per grid of a :class:`~gridsim.plan.Plan` (indexed by ``grid_id``): ``unit_id``, ``homes``,
    ``key_visits``, ``general_visits`` (the worker's a month), ``visit_hours``, ``tour_km``, ``walk_km``
    (by road), ``walk_hours``, ``fixed_hours``, ``hours_month``, ``ceiling_hours``, ``over_ceiling``,
    ``tour_method``, ``circuity`` (measured along ``roads``, a :class:`~gridsim.roads.RoadNetwork`, or the
    assumed ``workload.circuity``). Homes without a position are an InputError naming their rows."""
    policy = plan.policy if policy is None else policy
    parts = plan_parts(plan, policy, roads)
    hours = hours_from_parts(parts, param_values(policy))
    out = parts.drop(columns=["visits", "radius_km"]).copy()
    for k in ("visit_hours", "walk_km", "walk_hours", "fixed_hours", "hours_month"):
        out[k] = hours[k]
    out["ceiling_hours"] = float(policy["workload.ceiling_hours_month"])
    out["over_ceiling"] = out["hours_month"] > out["ceiling_hours"] + 1e-9
    out["circuity"] = out["circuity"].fillna(float(policy["workload.circuity"]))
    return out[["unit_id", "homes", "key_visits", "general_visits", "visit_hours", "tour_km", "walk_km",
                "walk_hours", "fixed_hours", "hours_month", "ceiling_hours", "over_ceiling", "tour_method",
                "circuity"]]


def hours_overload(parts, values: dict) -> np.ndarray:
    """The share of a worker's visit and walking hours beyond his available hours
    (``workload.available_hours_month``): ``max(0, hours − available) / (visit + walking hours)``, in
    [0, 1]. Broadcasts like :func:`hours_from_parts`."""
    h = hours_from_parts(parts, values)
    work = h["visit_hours"] + h["walk_hours"]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.maximum(h["hours_month"] - values["workload.available_hours_month"], 0.0) / work
    return np.clip(np.where(work > 0, share, 0.0), 0.0, 1.0)


def tallies_parts(tallies: pd.DataFrame, policy) -> pd.DataFrame:
    """Visit and fixed hours per grid from tallies alone (no positions, so no walking): what the
    assessment uses when it is given a tallies frame instead of a Plan."""
    from .visits import visit_workload

    work = visit_workload(tallies, policy)
    parts = pd.DataFrame({"key_visits": work["key_visits_month"].astype(float),
                          "general_visits": work["general_visits_month"].astype(float),
                          "visits": work["worker_visits_month"].astype(float),
                          "tour_km": 0.0, "radius_km": 0.0}, index=tallies.index)
    return parts


def parts_of(plan, tallies: pd.DataFrame, policy) -> pd.DataFrame:
    """Per grid of ``tallies`` (same index): :func:`plan_parts` when ``plan`` is a Plan, else
    :func:`tallies_parts` (a tallies frame has no positions, so no walking)."""
    if hasattr(plan, "workload_parts"):  # parts computed once from a Plan (a sweep's later runs)
        return plan.workload_parts(policy).reindex(tallies.index)
    if hasattr(plan, "homes") and hasattr(plan, "assignment"):
        return plan_parts(plan, policy).reindex(tallies.index)
    return tallies_parts(tallies, policy)


# ---- the optimizer's incremental estimate

class WorkloadProxy:
    """Hours of a set of homes from running sums, for the optimizer's per-move update (O(1) a move).

    Visit and fixed hours are exact (sums). Walking is approximated from the homes' first and second
    moments: the rounds by BHH on ``n`` homes in an area ``4π·sqrt(det Σ)`` (Σ: covariance of the
    positions; exact for a uniform disc), the key round scaled by ``sqrt(key homes / homes)``, the
    outings with the root-mean-square radius ``sqrt(trace Σ)`` in place of the mean radius (never
    smaller). ``walk_scale`` multiplies the walking term; the solver raises it when the exact hours of
    its plan come out above the proxy's (:meth:`calibrate`).
    """

    def __init__(self, xy: np.ndarray, key_visits: np.ndarray, general_visits: np.ndarray, key_home: np.ndarray,
                 params: WorkloadParams, values: dict, key_assumed: bool = False):
        self.params = params
        centre = xy.mean(axis=0) if len(xy) else np.zeros(2)
        x, y = (xy - centre).T / 1000.0  # km about the unit's centre (well-conditioned sums)
        visit_h = (key_visits * values["workload.minutes_per_key_visit"]
                   + general_visits * values["workload.minutes_per_general_visit"]) / 60.0
        keyw = (key_visits / max(params.key_per_month * params.share, 1e-12)) if key_assumed else key_home.astype(float)
        self.rows = np.column_stack([np.ones(len(x)), keyw, key_visits + general_visits, visit_h,
                                     x, y, x * x, y * y, x * y])
        self.fixed = float(values["workload.fixed_hours_month"])
        self.km_hours = float(values["workload.circuity"]) / float(values["workload.travel_speed_kmh"])
        self.per_outing = float(values["workload.visits_per_outing"])
        self.ceiling = params.ceiling_hours
        self.walk_scale = 1.0

    def sums(self, idx) -> np.ndarray:
        return self.rows[idx].sum(axis=0)

    def hours(self, s) -> float:
        """Estimated hours of a grid with sums ``s`` (a row of :meth:`sums`)."""
        n, kn, visits, visit_h, sx, sy, sxx, syy, sxy = s
        if n <= 0:
            return 0.0
        # the optimizer asks this for every move it weighs, so the clamps are written out (each is
        # exactly max(x, 0.0) / min(1.0, x), NaN and -0.0 included) instead of calling max and min
        mx, my = sx / n, sy / n
        vx, vy = sxx / n - mx * mx, syy / n - my * my
        vx, vy = 0.0 if vx < 0.0 else vx, 0.0 if vy < 0.0 else vy
        cov = sxy / n - mx * my
        det = vx * vy - cov * cov
        area = PROXY_AREA_FACTOR * math.sqrt(0.0 if det < 0.0 else det)
        full = BHH_CONSTANT * math.sqrt(n * area)
        p = self.params
        share = (0.0 if kn < 0.0 else kn) / n
        key = full * math.sqrt(share if share < 1.0 else 1.0)
        tour = p.share * (p.key_per_month * key + p.general_per_quarter / 3.0 * full)
        outing = 2.0 * math.sqrt(vx + vy) * visits / self.per_outing
        return self.fixed + visit_h + self.walk_scale * (tour + outing) * self.km_hours

    def excess(self, s) -> float:
        return max(0.0, self.hours(s) - self.ceiling)
