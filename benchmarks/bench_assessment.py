"""Benchmark: 10,000 replicate years of the monthly assessment for every grid, on 2 cores.

Runs :func:`gridsim.assessment.simulate_assessment` on today's map of the embedded data (every current grid)
and on a coarser plan of about half as many grids (the size optimized plans have), reports wall time and
peak memory, and compares against a peer: a naive per-replicate, per-grid, per-month loop of the same
model with scalar draws, run on a subset of replicates and scaled up. The naive loop also serves as an
independent re-implementation: its mean score and unqualified share should agree with the vectorised one
within Monte Carlo error.

Run standalone: ``python benchmarks/bench_assessment.py [--draws 10000] [--naive-draws 40]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridsim.budget import simulate_budget  # noqa: E402
from gridsim.assessment import ASSESSMENT_KEYS, draw_parameters, horizon, simulate_assessment  # noqa: E402
from gridsim.pay import base_pay_month, basis_households, grid_tallies, pay_after_deduction  # noqa: E402
from gridsim.policy import load_policy  # noqa: E402
from gridsim.registers import read_homes  # noqa: E402
from gridsim.visits import visit_workload  # noqa: E402

CORES = 2


def pin_to_cores(n: int) -> int:
    """Restrict this process to ``n`` CPUs where the OS allows it; return the CPUs used."""
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:n]
        os.sched_setaffinity(0, cpus)
        return len(cpus)
    return min(n, os.cpu_count() or 1)


def naive(tallies, policy, draws: int, seed: int) -> dict:
    """The same model, one replicate, grid and month at a time with scalar draws (the peer)."""
    rng = np.random.default_rng(seed)
    periods = horizon(policy)
    start = periods.get_loc(policy["assessment.start"])
    work = visit_workload(tallies, policy)
    base = base_pay_month(basis_households(tallies, policy).to_numpy(), policy)
    key, gen, due = (work[c].to_numpy() for c in ("key_visits_month", "general_visits_month", "visits_due_month"))
    case_hh = tallies[policy["cases.basis"]].to_numpy(float)
    r = {k: float(policy[f"assessment.rubric.{k}"]) for k in (
        "points_per_missed_key_visit", "points_per_missed_general_visit", "max_visit_points", "points_per_late_case",
        "max_case_points", "points_missed_training", "points_falsified_record")}
    training_month = {int((k + 0.5) * 12 / policy["training.sessions_per_year"]) + 1
                      for k in range(policy["training.sessions_per_year"])}
    scores, unqualified, paid, per_replicate = [], 0, 0.0, []
    for _ in range(draws):
        before = (len(scores), unqualified)
        prm = {k: v[0] for k, v in draw_parameters(policy, ASSESSMENT_KEYS, 1, rng).items()}
        sigma = prm["assessment.worker_effect_sd"]
        for g in range(len(tallies)):
            effect = math.exp(sigma * rng.standard_normal() - sigma**2 / 2)
            count, vacant = 0, 0
            over = max(0.0, due[g] - prm["visits.capacity_per_worker_month"]) / due[g] if due[g] else 0.0
            lam_late = prm["cases.per_100_households_month"] * case_hh[g] / 100 * (1 - prm["cases.on_time_rate"])
            for t, period in enumerate(periods):
                if period.month == 1:
                    count = 0
                if vacant:
                    vacant -= 1
                    continue
                late = rng.poisson(lam_late)
                if t < start:
                    paid += base[g]
                    continue
                p = min(1.0, max(0.0, effect * prm["assessment.miss_rate_base"]
                                 + policy["assessment.miss_rate_overload_elasticity"] * over))
                pts = min(r["max_visit_points"], rng.binomial(key[g], p) * r["points_per_missed_key_visit"]
                          + rng.binomial(gen[g], p) * r["points_per_missed_general_visit"])
                pts += min(r["max_case_points"], late * r["points_per_late_case"])
                if period.month in training_month and rng.random() < policy["assessment.training_absence_rate"]:
                    pts += r["points_missed_training"]
                if rng.random() < min(1.0, policy["assessment.falsification_rate"] * effect) * policy["assessment.spot_check_rate"]:
                    pts += r["points_falsified_record"]
                pts += rng.gamma(2.0, effect * prm["assessment.other_points_mean"] / 2)
                score = max(0.0, 100 - pts)
                scores.append(score)
                paid += pay_after_deduction(base[g], pts, policy)
                if score < policy["assessment.unqualified_below"]:
                    unqualified += 1
                    count += 1
                    if count >= policy["assessment.termination_unqualified_months"]:
                        count, vacant = 0, int(prm["assessment.vacancy_months_after_termination"])
                        effect = math.exp(sigma * rng.standard_normal() - sigma**2 / 2)
        per_replicate.append((unqualified - before[1]) / (len(scores) - before[0]))
    return {"se_unqualified": float(np.std(per_replicate, ddof=1) / math.sqrt(draws)), "mean_score": float(np.mean(scores)), "share_unqualified": unqualified / len(scores),
            "base_paid_per_replicate": paid / draws, "worker_months": len(scores)}


def timed(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, elapsed, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--naive-draws", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cores = pin_to_cores(CORES)
    policy = load_policy()
    homes = read_homes()
    today = grid_tallies(homes)
    rank = homes.groupby("unit_id")["current_grid_id"].rank(method="dense").astype(int)
    coarse = grid_tallies(homes, homes["unit_id"] + "-p" + ((rank - 1) // 2).astype(str))
    print(f"cores={cores} numpy={np.__version__} draws={args.draws} months=12 "
          f"load average before={os.getloadavg()[0]:.2f} (other processes share the machine)")

    simulate_assessment(today, policy, draws=200, seed=args.seed, workers=cores)  # warm-up
    results = {}
    for name, tallies in (("today", today), ("coarse", coarse)):
        run = lambda t=tallies: simulate_assessment(t, policy, draws=args.draws, seed=args.seed, workers=cores)  # noqa: E731
        t0, c0 = time.perf_counter(), time.process_time()
        res = run()
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        _, _, peak = timed(run)  # memory traced in a second run: tracing slows the first
        results[name] = (res, secs)
        wm = args.draws * len(tallies) * 12
        print(f"vectorised {name:6s}: grids={len(tallies):4d} wall={secs:6.2f} s  cpu={cpu:6.2f} s "
              f"(cpu/{cores} = {cpu / cores:5.2f} s)  peak traced memory={peak:7.1f} MiB"
              f"  ({wm / secs / 1e6:5.2f} M worker-months/s wall)")
    t0 = time.perf_counter()
    simulate_budget(homes, None, policy, draws=args.draws, seed=args.seed, workers=cores)
    print(f"whole budget (assessment + publicity, training, funders, bands), today's map: "
          f"{time.perf_counter() - t0:6.2f} s")
    print(f"max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    peer, secs_naive, _ = timed(lambda: naive(today, policy, args.naive_draws, args.seed + 1))
    per_rep = secs_naive / args.naive_draws
    res, secs = results["today"]
    print(f"naive loop (peer): {args.naive_draws} replicates in {secs_naive:.2f} s -> {per_rep * 1000:.1f} ms/replicate, "
          f"{per_rep * args.draws:.0f} s for {args.draws} (extrapolated)")
    print(f"ratio naive / vectorised (same draws, today's map): {per_rep * args.draws / secs:.0f}x")
    assessed = res.monthly[res.monthly["assessed"]]
    vec_score = float(assessed["mean_score"].mean())
    vec_unq = float(assessed["share_unqualified"].mean())
    vec_paid = float(res.base_paid.sum(axis=(1, 2)).mean())
    print("agreement (vectorised vs naive re-implementation):")
    print(f"  mean monthly score  {vec_score:8.3f} vs {peer['mean_score']:8.3f}")
    print(f"  unqualified share   {vec_unq:8.5f} vs {peer['share_unqualified']:8.5f}"
          f"  (naive: {peer['worker_months']} worker-months, se over its replicates {peer['se_unqualified']:.5f})")
    print(f"  base pay paid/year  {vec_paid:8.0f} vs {peer['base_paid_per_replicate']:8.0f} yuan")


if __name__ == "__main__":
    main()
