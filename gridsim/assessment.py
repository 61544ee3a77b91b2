"""Monthly assessment of grid workers and its consequences, as a vectorised Monte Carlo (三(六)).

From ``assessment.start`` (2024-02) each grid worker is scored monthly: 100 minus deductions from the
rubric assumptions (``assessment.rubric.*``): missed 五必访 and general visits (the miss chance grows when
the worker's share of the due visits passes capacity, :mod:`gridsim.visits`, or when the grid's hours a
month — visits, walking, fixed duties, :mod:`gridsim.workload` — pass the hours a worker has,
``workload.available_hours_month``; the larger of the two overloads counts), late platform cases, missed
training (三(三)), and the rubric's other items (a gamma-distributed remainder rounded to the rubric's
step ``assessment.score_step``, so scores move in half points and a score of exactly 60 happens).
Each point costs ``assessment.deduction_pct_per_point`` percent of the month's base pay
(:func:`gridsim.pay.pay_after_deduction`). A score "60分以下" is unqualified — 60 itself included by default
(``assessment.unqualified_boundary``, 民法典 第一千二百五十九条); the 2nd unqualified month in a year
brings a public criticism, the 3rd ends the service agreement and the grid is vacant (no pay) for
``assessment.vacancy_months_after_termination`` months, then a new worker starts clean. "A year" is the
calendar year or a rolling 12 months (``assessment.year_window``).

Falsification is the 网格长's, as 三(六) says: with ``assessment.leader_concealment_rate`` a 网格长 reports a
month without the worker's deductions; the 网格中心's spot checks (``assessment.spot_check_rate``) find it,
and then the concealed points stand and the 网格长 is handled (``leader_findings``); unfound, the worker keeps
the month's pay. The worker is never charged for the 网格长's falsification.

Pay is counted from ``timing.new_rules_start`` (:func:`gridsim.pay.priced_months`): earlier months are
assessed (escalation counts them) but not priced; performance pay accrues on the cases of priced months
and is paid every ``pay.performance.period_months`` months (the quarter).

Workers differ: each has a persistent effect (log-normal, mean 1, ``assessment.worker_effect_sd``) on his
miss, falsification and other-deduction rates, redrawn when a new worker is hired.

Vectorisation: arrays are ``replicates × grids`` and the months are stepped in order (escalation depends
on the past). Replicates run in blocks of :data:`BLOCK` with one :class:`numpy.random.SeedSequence` child
per block, so results depend only on the seed and the number of draws (and whole blocks of replicates are
the same whatever the total). Empirical unknowns with a ``range`` (``kind: empirical``) are drawn once per
replicate from a split-triangular distribution whose median is the stated value (rounded for integer
parameters), so the bands include parameter uncertainty around the baseline; choices and readings are
never drawn; ``uncertain=False`` fixes everything, and so does a scenario that sets a value.

Public API
----------
- :func:`is_unqualified`, :class:`WorkerState`, :func:`escalate` — the rules, usable on single sequences.
- :func:`draw_parameters`, :func:`block_seeds`, :func:`horizon` — shared with :mod:`gridsim.budget`.
- :func:`simulate_assessment` -> :class:`AssessmentResult` (``grids``, ``monthly``, ``score_distribution``,
  ``replicates``, ``params`` frames; per-replicate pay arrays for the budget).
- :func:`assessment_sums` -> :class:`AssessmentSums`: the same Monte Carlo before its frames (the budget
  and its sweeps build the frames only when they are read).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from .errors import GridsimError
from .pay import (base_pay_month, basis_households, pay_after_deduction, performance_pay, priced_months,
                  tallies_of, training_sessions)
from .visits import miss_probability, overload_share, visit_counts, visit_workload
from .workload import WORKLOAD_KEYS, WorkloadParams, hours_from_parts, hours_overload, param_values, parts_of

BLOCK = 100
"""Replicates per random block (fixed: changing it changes the random streams)."""

STREAM_ASSESSMENT = 0
STREAM_BUDGET = 1

ASSESSMENT_KEYS = (
    "cases.per_100_households_month", "cases.on_time_rate", "cases.mean_quality",
    "pay.performance.yuan_per_case", "pay.performance.pool_yuan_quarter", "visits.capacity_per_worker_month",
    "assessment.miss_rate_base", "assessment.other_points_mean", "assessment.worker_effect_sd",
    "assessment.vacancy_months_after_termination", "assessment.leader_concealment_rate", *WORKLOAD_KEYS,
)
"""Parameters taken per replicate by the assessment simulation (the empirical ones with a ``range`` vary)."""

SCORE_BINS = 201  # half points 0, 0.5, ..., 100 (the rubric's finest step by default)


def is_unqualified(score, policy):
    """A monthly score "60分以下" is unqualified (三(六)). Whether 60 itself is — ``assessment.unqualified_boundary``:
    ``inclusive`` (default; 以下 includes the number, 民法典 第一千二百五十九条) judges 60 unqualified and 60.5
    not; ``exclusive`` judges only scores under 60."""
    threshold = float(policy["assessment.unqualified_threshold"])
    if policy["assessment.unqualified_boundary"] == "inclusive":
        return np.asarray(score) <= threshold
    return np.asarray(score) < threshold


def horizon(policy, year: int | None = None, years: int = 1) -> pd.PeriodIndex:
    """The simulated months: whole calendar years from January of ``year`` (default: the year of
    ``assessment.start``)."""
    if years < 1:
        raise GridsimError(f"年数须至少为1 (years must be at least 1), 得到 got {years}")
    year = pd.Period(policy["assessment.start"], freq="M").year if year is None else int(year)
    return _months(year, years)


@lru_cache(maxsize=64)
def _months(year: int, years: int) -> pd.PeriodIndex:
    """The months of ``years`` calendar years from ``year`` (an index is immutable: made once, shared by the
    thousands of runs of a sweep)."""
    return pd.period_range(f"{year}-01", periods=12 * years, freq="M")


def block_seeds(seed: int, stream: int, draws: int) -> list[tuple[np.random.SeedSequence, int]]:
    """``(SeedSequence, size)`` per block of replicates: child ``(stream, block)`` of ``SeedSequence(seed)``."""
    if draws < 1:
        raise GridsimError(f"抽样次数须至少为1 (draws must be at least 1), 得到 got {draws}")
    out = []
    for b, start in enumerate(range(0, draws, BLOCK)):
        out.append((np.random.SeedSequence(seed, spawn_key=(stream, b)), min(BLOCK, draws - start)))
    return out


def split_triangular(low: float, mode: float, high: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draws on ``[low, high]`` whose median and mode are ``mode``: with probability ½ from the triangle
    rising from ``low`` to ``mode``, else from the triangle falling from ``mode`` to ``high``. Unlike one
    triangular or PERT distribution over an off-centre interval, the median stays the stated value."""
    u = rng.random(size)
    left = u < 0.5
    v = np.where(left, 2.0 * u, 2.0 * u - 1.0)  # uniform on [0, 1) within each half
    below = mode - (mode - low) * (1.0 - np.sqrt(v))  # density rising to the mode: F(x) = ((x-low)/(mode-low))^2
    above = mode + (high - mode) * (1.0 - np.sqrt(1.0 - v))  # density falling from the mode
    return np.where(left, below, above)


def draw_parameters(policy, keys, size: int, rng: np.random.Generator, *, uncertain: bool = True) -> dict[str, np.ndarray]:
    """One value per replicate for each key. When ``uncertain``, an empirical unknown with a ``range``
    (:attr:`~gridsim.policy.Parameter.drawn`) is drawn by :func:`split_triangular` around its value (rounded
    for integer parameters, which keeps the median); everything else — choices, readings, rules, and a value
    a scenario changed from the baseline (its baseline range no longer describes it) — is the policy value
    repeated. Keys are drawn in order."""
    out = {}
    overridden = policy.overridden()
    for key in keys:
        p = policy.param(key)
        if uncertain and p.drawn and key not in overridden:
            lo, hi = p.range
            x = split_triangular(float(lo), float(p.value), float(hi), size, rng)
            out[key] = np.rint(x).astype(np.int64) if isinstance(p.value, int) and not isinstance(p.value, bool) else x
        else:
            out[key] = np.full(size, p.value)
    return out


class WorkerState:
    """Escalation state of an array of grid posts (三(六)): unqualified months in the year window and vacancy.

    Call :meth:`start_month` at the start of each month (it clears the window where the year rule says so
    and returns which posts have a worker), then :meth:`record` with that month's unqualified flags.
    """

    def __init__(self, shape: tuple[int, ...], policy) -> None:
        self.rolling = policy["assessment.year_window"] == "rolling12"
        self.criticism_at = int(policy["assessment.criticism_unqualified_months"])
        self.termination_at = int(policy["assessment.termination_unqualified_months"])
        self.count = np.zeros(shape, np.int16)
        self.ring = np.zeros((12, *shape), bool) if self.rolling else None
        self.vacant_left = np.zeros(shape, np.int16)
        self._slot = 0

    def start_month(self, period: pd.Period) -> np.ndarray:
        """Open a month: calendar window -> January starts clean; rolling -> forget the month 12 back."""
        if self.rolling:
            self._slot = period.ordinal % 12
            self.count -= self.ring[self._slot]
            self.ring[self._slot] = False
        elif period.month == 1:
            self.count[...] = 0
        active = self.vacant_left == 0
        np.subtract(self.vacant_left, 1, out=self.vacant_left, where=~active)
        return active

    def record(self, unqualified: np.ndarray, vacancy_months) -> tuple[np.ndarray, np.ndarray]:
        """Count this month's unqualified posts; return ``(criticism, termination)`` flags.

        Criticism when the window's count reaches ``assessment.criticism_unqualified_months`` (2), termination
        at ``assessment.termination_unqualified_months`` (3): the post is then vacant for ``vacancy_months``
        (broadcastable) and the next worker starts with a clean count.
        """
        unq = np.asarray(unqualified, bool)
        self.count += unq
        if self.rolling:
            self.ring[self._slot] = unq
        criticism = unq & (self.count == self.criticism_at)
        termination = unq & (self.count >= self.termination_at)
        if termination.any():
            self.count[termination] = 0
            if self.rolling:
                self.ring[:, termination] = False
            self.vacant_left = np.where(termination, np.asarray(vacancy_months, np.int16), self.vacant_left)
        return criticism, termination


def escalate(unqualified, periods: pd.PeriodIndex, policy, vacancy_months: int | None = None) -> dict[str, np.ndarray]:
    """Apply the escalation rules to unqualified flags of shape ``(..., months)``.

    Returns boolean arrays ``criticism``, ``termination`` and ``vacant`` of the same shape; flags in vacant
    months are ignored (nobody is in post). ``vacancy_months`` defaults to the policy's value.
    """
    unq = np.asarray(unqualified, bool)
    v = int(policy["assessment.vacancy_months_after_termination"]) if vacancy_months is None else vacancy_months
    state = WorkerState(unq.shape[:-1], policy)
    out = {k: np.zeros(unq.shape, bool) for k in ("criticism", "termination", "vacant")}
    for t, period in enumerate(periods):
        active = state.start_month(period)
        out["vacant"][..., t] = ~active
        out["criticism"][..., t], out["termination"][..., t] = state.record(unq[..., t] & active, v)
    return out


@dataclass
class AssessmentResult:
    """What the assessment Monte Carlo found for one plan.

    Frames (tidy, for notebooks):
    - ``grids`` (index ``grid_id``): tallies, ``base_pay_month``, visit load, ``p_unqualified_month`` (per
      month in post and assessed), ``p_criticism`` / ``p_termination`` (chance of at least one in a
      year), ``mean_score``, ``score_p5``, ``expected_deduction_points_month``,
      ``expected_deduction_yuan_year``, ``expected_vacant_months_year``, ``expected_base_pay_year`` (after
      deductions and vacancies), ``expected_performance_pay_year``.
    - ``monthly``: per month ``mean_score``, ``share_unqualified``, ``expected_criticisms``,
      ``expected_terminations``, ``expected_vacant_grids``.
    - ``score_distribution``: ``grid_id, score, share`` (half-point bins, share of assessed worker-months).
    - ``replicates``: per replicate ``unqualified_months, criticisms, terminations, deduction_yuan``.
    - ``params``: the parameter values drawn per replicate.
    Arrays (``replicates × months × units``, yuan): ``base_paid``, ``performance_paid``, ``deducted``.
    """

    grids: pd.DataFrame
    monthly: pd.DataFrame
    score_distribution: pd.DataFrame
    replicates: pd.DataFrame
    params: pd.DataFrame
    periods: pd.PeriodIndex
    units: list[str]
    base_paid: np.ndarray = field(repr=False)
    performance_paid: np.ndarray = field(repr=False)
    deducted: np.ndarray = field(repr=False)
    cases_source: str = "simulated"
    seed: int = 0
    draws: int = 0
    unqualified_share: float = 0.0  # unqualified / assessed worker-months, whole plan

    def rates(self) -> dict[str, float]:
        """The headline rates: share of assessed worker-months unqualified, chance per grid and year of a
        public criticism and of a termination, and expected 网格长 findings per year (whole plan)."""
        g = self.grids
        return {
            "unqualified": self.unqualified_share,
            "criticism": float(g["p_criticism"].mean()),
            "termination": float(g["p_termination"].mean()),
            "leader_findings_year": float(g["expected_leader_findings_year"].sum()),
        }


class _Inputs:
    """The plan's fixed per-grid arrays, computed once."""

    def __init__(self, tallies: pd.DataFrame, policy, periods: pd.PeriodIndex, observed: dict | None,
                 parts: pd.DataFrame) -> None:
        self.G = len(tallies)
        self.parts = {k: parts[k].to_numpy(float) for k in ("key_visits", "general_visits", "visits", "tour_km",
                                                            "radius_km")}
        self.base = base_pay_month(basis_households(tallies, policy).to_numpy(), policy)
        work = visit_counts(tallies, policy)
        self.key_due = work["key_visits_month"]
        self.gen_due = work["general_visits_month"]
        self.due = work["worker_visits_month"].astype(float)
        self.case_households = tallies[policy["cases.basis"]].to_numpy(float)
        self.units = sorted(tallies["unit_id"].unique())
        unit_idx = pd.Index(self.units).get_indexer(tallies["unit_id"])
        self.onehot = np.zeros((self.G, len(self.units)))
        self.onehot[np.arange(self.G), unit_idx] = 1.0
        start = pd.Period(policy["assessment.start"], freq="M")
        self.assessed = np.asarray(periods >= start)
        self.training = training_sessions(periods, policy)
        self.priced = priced_months(periods, policy)
        self.period_end = np.asarray(periods.month % int(policy["pay.performance.period_months"]) == 0)
        self.period_end[-1] = True
        self.year_end = np.asarray(periods.month == 12)
        self.year_end[-1] = True
        self.observed = observed


def _lognormal_effect(rng, sigma, shape):
    """Mean-one log-normal worker effects; ``sigma`` broadcasts to ``shape``."""
    return np.exp(sigma * rng.standard_normal(shape) - 0.5 * sigma**2)


def _new_accumulators(G: int, M: int) -> dict[str, np.ndarray]:
    acc = {f"grid_{k}": np.zeros(G) for k in ("assessed", "unqualified", "points", "score", "deduction_yuan",
                                               "base_paid", "perf_paid", "vacant", "crit_years", "term_years",
                                               "leader_findings")}
    acc.update({f"month_{k}": np.zeros(M) for k in ("assessed", "score", "unqualified", "criticisms",
                                                     "terminations", "vacant", "leader_findings")})
    acc["hist"] = np.zeros(G * SCORE_BINS)
    return acc


def _run_block(inp: _Inputs, policy, periods, seed_seq: np.random.SeedSequence, size: int, uncertain: bool,
               out: dict[str, np.ndarray]) -> dict:
    """Simulate one block of replicates from its own seed. Writes its pay arrays into ``out`` (views of the
    block's rows of the result arrays); returns the drawn parameters, per-replicate counts and the block's
    per-grid and per-month sums."""
    rng = np.random.default_rng(seed_seq)
    prm = draw_parameters(policy, ASSESSMENT_KEYS, size, rng, uncertain=uncertain)
    acc = _new_accumulators(inp.G, len(periods))
    B, G = size, inp.G
    col = {k: np.asarray(v, float).reshape(B, 1) for k, v in prm.items()}
    overload = np.maximum(overload_share(inp.due[None, :], col["visits.capacity_per_worker_month"]),
                          hours_overload({k: v[None, :] for k, v in inp.parts.items()},
                                         {k: col[k] for k in WORKLOAD_KEYS}))
    sigma = col["assessment.worker_effect_sd"]
    worker = _lognormal_effect(rng, sigma, (B, G))
    lam = col["cases.per_100_households_month"] * inp.case_households[None, :] / 100.0
    lam_late = lam * (1.0 - col["cases.on_time_rate"])  # Poisson thinning: late and on-time counts are
    lam_on = lam * col["cases.on_time_rate"]  # independent Poissons, so on-time ones are drawn per quarter
    vacancy = prm["assessment.vacancy_months_after_termination"].astype(np.int16).reshape(B, 1)
    pk = float(policy["assessment.rubric.points_per_missed_key_visit"])
    pg = float(policy["assessment.rubric.points_per_missed_general_visit"])
    max_visit = float(policy["assessment.rubric.max_visit_points"])
    pl, max_case = float(policy["assessment.rubric.points_per_late_case"]), float(policy["assessment.rubric.max_case_points"])
    pt, absence = float(policy["assessment.rubric.points_missed_training"]), float(policy["assessment.training_absence_rate"])
    conceal_rate, spot = col["assessment.leader_concealment_rate"], float(policy["assessment.spot_check_rate"])
    step = float(policy["assessment.score_step"])
    other_scale = col["assessment.other_points_mean"] / 2.0  # gamma shape 2

    state = WorkerState((B, G), policy)
    q_late, q_on, q_qs, q_months = (np.zeros((B, G)) for _ in range(4))
    crit_y, term_y = np.zeros((B, G), bool), np.zeros((B, G), bool)
    base_paid, perf_paid, deducted = out["base_paid"], out["performance_paid"], out["deducted"]
    rep = {k: np.zeros(B) for k in ("unqualified_months", "criticisms", "terminations", "deduction_yuan",
                                    "leader_findings")}
    base = np.broadcast_to(inp.base, (B, G))
    grid_offset = np.arange(G) * SCORE_BINS

    for t, period in enumerate(periods):
        active = state.start_month(period)
        accrues = active & inp.priced[t]  # performance pay accrues on the cases of priced months in post
        if inp.observed is not None:
            on = inp.observed["on_time"][:, t]
            late = np.broadcast_to(inp.observed["n"][:, t] - on, (B, G))
            q_on += np.where(accrues, on, 0.0)
            q_qs += np.where(accrues, inp.observed["quality_sum"][:, t], 0.0)
        else:
            late = rng.poisson(lam_late).astype(float)
        q_late += np.where(accrues, late, 0.0)
        q_months += accrues
        if inp.assessed[t]:
            p = miss_probability(col["assessment.miss_rate_base"], overload, policy, worker)
            points = np.minimum(max_visit, rng.binomial(inp.key_due, p) * pk + rng.binomial(inp.gen_due, p) * pg)
            points += np.minimum(max_case, late * pl)
            if inp.training[t]:
                points += rng.binomial(inp.training[t], absence, size=(B, G)) * pt
            other = rng.gamma(2.0, 1.0, size=(B, G)) * (worker * other_scale)
            points += np.round(other / step) * step  # the rubric deducts in steps (half points)
            concealed = rng.random((B, G)) < conceal_rate  # the 网格长 reports the month without deductions
            checked = rng.random((B, G)) < spot
            findings = concealed & checked & (points > 0) & active
            points = np.where(concealed & ~checked, 0.0, points)  # unfound: the worker is scored clean
            score = np.maximum(0.0, 100.0 - points)
            pay = pay_after_deduction(base, points, policy)
            unq = active & is_unqualified(score, policy)
            crit, term = state.record(unq, vacancy)
            if term.any():  # a new worker, a new effect
                worker[term] = _lognormal_effect(rng, sigma[np.nonzero(term)[0], 0], int(term.sum()))
            crit_y |= crit
            term_y |= term
            bins = np.floor(np.minimum(score, 100.0) * 2.0).astype(np.int64) + grid_offset
            acc["hist"] += np.bincount(bins[active], minlength=G * SCORE_BINS)
            am = active.astype(float)
            for name, values in (("assessed", am), ("unqualified", unq), ("points", points * am),
                                 ("score", score * am), ("deduction_yuan", (base - pay) * am * inp.priced[t])):
                acc["grid_" + name] += values.sum(axis=0)
            acc["month_assessed"][t] += am.sum()
            acc["month_score"][t] += (score * am).sum()
            acc["month_unqualified"][t] += unq.sum()
            acc["month_criticisms"][t] += crit.sum()
            acc["month_terminations"][t] += term.sum()
            acc["grid_leader_findings"] += findings.sum(axis=0)
            acc["month_leader_findings"][t] += findings.sum()
            rep["leader_findings"] += findings.sum(axis=1)
            rep["unqualified_months"] += unq.sum(axis=1)
            rep["criticisms"] += crit.sum(axis=1)
            rep["terminations"] += term.sum(axis=1)
        else:
            pay = base
        paid = np.where(active, pay, 0.0) * inp.priced[t]
        cut = np.where(active, base - pay, 0.0) * inp.priced[t]
        base_paid[:, t] = paid @ inp.onehot
        deducted[:, t] = cut @ inp.onehot
        rep["deduction_yuan"] += cut.sum(axis=1)
        acc["grid_base_paid"] += paid.sum(axis=0)
        acc["grid_vacant"] += (~active).sum(axis=0)
        acc["month_vacant"][t] += (~active).sum()
        if inp.period_end[t]:
            if inp.observed is None:
                q_on = rng.poisson(lam_on * q_months).astype(float)
                q_qs = (q_on + q_late) * col["cases.mean_quality"]
            perf = performance_pay(q_on + q_late, q_on, q_qs, policy, col["pay.performance.yuan_per_case"],
                                   col["pay.performance.pool_yuan_quarter"])
            perf_paid[:, t] = perf @ inp.onehot
            acc["grid_perf_paid"] += perf.sum(axis=0)
            q_late, q_on, q_qs, q_months = (np.zeros((B, G)) for _ in range(4))
        if inp.year_end[t]:
            acc["grid_crit_years"] += crit_y.sum(axis=0)
            acc["grid_term_years"] += term_y.sum(axis=0)
            crit_y[...], term_y[...] = False, False
    return {"replicates": rep, "params": prm, "acc": acc}


def simulate_assessment(plan, policy, draws: int = 2000, seed: int = 0, *,
                        cases: pd.DataFrame | None = None, year: int | None = None, years: int = 1,
                        uncertain: bool = True, workers: int | None = None,
                        parts: pd.DataFrame | None = None) -> AssessmentResult:
    """Monte Carlo of a plan's monthly assessment and pay, ``draws`` replicate horizons of ``years`` years.

    ``plan`` is a :class:`~gridsim.plan.Plan` (or its :meth:`~gridsim.plan.Plan.tallies`): the one source of
    the grids' counts. The grids' hours (:mod:`gridsim.workload`) include walking only when ``plan`` is a
    Plan (a tallies frame has no positions: visits and fixed duties only). ``cases`` (a cases register of the same map,
    e.g. ``read_cases()`` for today's map) makes case counts, lateness and quality the observed ones when it
    covers every simulated month; otherwise cases are simulated (Poisson at ``cases.per_100_households_month``
    on ``cases.basis`` households, lateness Binomial at ``1 - cases.on_time_rate``). Blocks of replicates
    run on ``workers`` threads (default: all cores); the result does not depend on it. ``parts``: the grids'
    workload parts (:func:`gridsim.workload.parts_of`) when the caller already has them.
    """
    return assessment_sums(plan, policy, draws, seed, cases=cases, year=year, years=years, uncertain=uncertain,
                           workers=workers, parts=parts).result()


@dataclass
class AssessmentSums:
    """The Monte Carlo's sums and pay arrays before any frame is built: what :func:`simulate_assessment`
    turns into an :class:`AssessmentResult` (:meth:`result`), and all a sweep of thousands of runs needs
    (:meth:`rates`, the pay arrays), without the per-grid, per-month and score-distribution frames."""

    tallies: pd.DataFrame
    policy: Any
    inp: "_Inputs"
    periods: pd.PeriodIndex
    acc: dict
    blocks: list
    arrays: dict
    seed: int
    draws: int

    @property
    def units(self) -> list[str]:
        return self.inp.units

    def grids_per_unit(self) -> np.ndarray:
        """Grids in each of :attr:`units` (floats)."""
        return self.inp.onehot.sum(axis=0)

    def rates(self) -> dict[str, float]:
        """:meth:`AssessmentResult.rates` from the sums: the same numbers, no frames."""
        per_year = self.draws * (len(self.periods) // 12)
        acc = self.acc
        return {
            "unqualified": _unqualified_share(acc),
            "criticism": float(np.mean(acc["grid_crit_years"] / per_year)),
            "termination": float(np.mean(acc["grid_term_years"] / per_year)),
            "leader_findings_year": float(np.sum(acc["grid_leader_findings"] / per_year)),
        }

    def result(self) -> AssessmentResult:
        return _result(self.tallies, self.policy, self.inp, self.periods, self.acc, self.blocks, self.arrays,
                       self.seed, self.draws)


def _unqualified_share(acc: dict) -> float:
    return float(acc["grid_unqualified"].sum() / max(1.0, acc["grid_assessed"].sum()))


def assessment_sums(plan, policy, draws: int = 2000, seed: int = 0, *, cases: pd.DataFrame | None = None,
                    year: int | None = None, years: int = 1, uncertain: bool = True, workers: int | None = None,
                    parts: pd.DataFrame | None = None) -> AssessmentSums:
    """The Monte Carlo of :func:`simulate_assessment` (same arguments, same random streams), stopped before
    its frames: :class:`AssessmentSums`."""
    from .pay import observed_cases

    tallies = tallies_of(plan)
    WorkloadParams.from_policy(policy)  # checked before any work
    periods = horizon(policy, year, years)
    observed = observed_cases(cases, tallies.index, periods) if cases is not None else None
    inp = _Inputs(tallies, policy, periods, observed, parts_of(plan, tallies, policy) if parts is None else parts)
    seeds = block_seeds(seed, STREAM_ASSESSMENT, draws)
    arrays = {k: np.zeros((draws, len(periods), len(inp.units))) for k in ("base_paid", "performance_paid", "deducted")}
    workers = max(1, min(workers or os.cpu_count() or 1, len(seeds)))

    def block(b: int) -> dict:
        return _run_block(inp, policy, periods, *seeds[b], uncertain,
                          {k: v[b * BLOCK:b * BLOCK + seeds[b][1]] for k, v in arrays.items()})

    if workers == 1:  # here, without a thread to start (a sweep makes thousands of small runs)
        blocks = [block(b) for b in range(len(seeds))]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # numpy's samplers release the GIL
            blocks = list(pool.map(block, range(len(seeds))))
    acc = _new_accumulators(inp.G, len(periods))
    for b in blocks:  # summed in block order: the same result whatever the thread timing
        for k, v in b["acc"].items():
            acc[k] += v
    return AssessmentSums(tallies, policy, inp, periods, acc, blocks, arrays, seed, draws)


def _result(tallies, policy, inp, periods, acc, blocks, arrays, seed, draws) -> AssessmentResult:
    R, n_years = draws, len(periods) // 12
    work = visit_workload(tallies, policy)
    assessed = np.maximum(acc["grid_assessed"], 1.0)
    hist = acc["hist"].reshape(inp.G, SCORE_BINS)
    cum = np.cumsum(hist, axis=1) / np.maximum(hist.sum(axis=1, keepdims=True), 1.0)
    score_p5 = np.where(hist.sum(axis=1) > 0, np.argmax(cum >= 0.05, axis=1) / 2.0, np.nan)
    grids = tallies.copy()
    grids["basis_households"] = basis_households(tallies, policy)
    grids["base_pay_month"] = inp.base
    grids["visits_due_month"] = work["visits_due_month"]
    grids["worker_visits_month"] = work["worker_visits_month"]
    grids["visit_load_ratio"] = work["load_ratio"]
    hours = hours_from_parts(inp.parts, param_values(policy))
    grids["hours_month"] = hours["hours_month"]
    grids["hours_overload_share"] = hours_overload(inp.parts, param_values(policy))
    grids["p_unqualified_month"] = acc["grid_unqualified"] / assessed
    grids["p_criticism"] = acc["grid_crit_years"] / (R * n_years)
    grids["p_termination"] = acc["grid_term_years"] / (R * n_years)
    grids["mean_score"] = np.where(acc["grid_assessed"] > 0, acc["grid_score"] / assessed, np.nan)
    grids["score_p5"] = score_p5
    grids["expected_deduction_points_month"] = acc["grid_points"] / assessed
    grids["expected_deduction_yuan_year"] = acc["grid_deduction_yuan"] / (R * n_years)
    grids["expected_vacant_months_year"] = acc["grid_vacant"] / (R * n_years)
    grids["expected_base_pay_year"] = acc["grid_base_paid"] / (R * n_years)
    grids["expected_performance_pay_year"] = acc["grid_perf_paid"] / (R * n_years)
    grids["expected_leader_findings_year"] = acc["grid_leader_findings"] / (R * n_years)
    ma = acc["month_assessed"]
    with np.errstate(invalid="ignore", divide="ignore"):
        monthly = pd.DataFrame({
            "period": periods.astype(str),
            "assessed": inp.assessed,
            "mean_score": np.where(ma > 0, acc["month_score"] / ma, np.nan),
            "share_unqualified": np.where(ma > 0, acc["month_unqualified"] / ma, np.nan),
            "expected_criticisms": acc["month_criticisms"] / R,
            "expected_terminations": acc["month_terminations"] / R,
            "expected_vacant_grids": acc["month_vacant"] / R,
            "expected_leader_findings": acc["month_leader_findings"] / R,
        })
    shares = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1.0)
    dist = pd.DataFrame({"grid_id": np.repeat(tallies.index.to_numpy(), SCORE_BINS),
                         "score": np.tile(np.arange(SCORE_BINS) / 2.0, inp.G), "share": shares.ravel()})
    reps = pd.DataFrame({k: np.concatenate([b["replicates"][k] for b in blocks]) for k in blocks[0]["replicates"]})
    return AssessmentResult(
        grids=grids, monthly=monthly, score_distribution=dist[dist["share"] > 0].reset_index(drop=True),
        replicates=reps, params=pd.concat([pd.DataFrame(b["params"]) for b in blocks], ignore_index=True), periods=periods, units=inp.units,
        base_paid=arrays["base_paid"], performance_paid=arrays["performance_paid"], deducted=arrays["deducted"],
        cases_source="observed" if inp.observed is not None else "simulated", seed=seed, draws=draws,
        unqualified_share=_unqualified_share(acc))
