"""Benchmark: sensitivity sweeps of the funding need on a Dask local cluster (issue 12), on 2 cores.

On the embedded data and the optimizer's plan of it (baseline), in one run:

1. tornado over every ranged assumption (:func:`gridsim.sweep.ranged_keys`), 2,000 draws per run
   (2·k + 1 runs) — on a local cluster of 2 worker processes and on one process (``client=None``), the
   same work: the cluster's speed-up; target < 30 s on the cluster;
2. Sobol with N = 512 (N·(k + 2) runs) at ``--sobol-draws`` (default 50) draws per run — each run prices a
   year of the plan with 50 replicates (common seed), enough for a stable P50 and rates at a cost the
   9,000-odd runs can afford; target < 5 minutes;
3. a knob sweep of 11 points of the community cap (400–500 planned households) that re-partitions the
   register at each point; target < 60 s;
4. Dask's overhead: a tiny sweep (Ishigami, Sobol N = 64, 320 evaluations of microseconds each) on the
   cluster against one process, and the cluster's start and stop.

The figures depend on the machine's load (it is shared): the load average is printed, and so is the number
of cores this run actually gets (two pure-Python loops at once against one): the cluster's speed-up cannot
exceed it. The CPU seconds the workers used are printed beside the wall times: the work itself, whatever
the load.
Run standalone: ``python benchmarks/bench_sweep.py [--sobol-n 512] [--sobol-draws 50] [--skip-sobol]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridsim.graph import build_graph  # noqa: E402
from gridsim.partition import partition  # noqa: E402
from gridsim.policy import load_policy  # noqa: E402
from gridsim.registers import read_homes, read_layer  # noqa: E402
from gridsim.sensitivity import Ishigami, knob, knob_sweep, sobol, tornado  # noqa: E402
from gridsim.sweep import BudgetRun, dask_client, ranged_factors  # noqa: E402

WORKERS = 2


def load() -> str:
    return "load average (1/5/15 min): " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _burn(_=None) -> float:
    t = time.perf_counter()
    x = 0
    for i in range(5_000_000):
        x += i
    return time.perf_counter() - t


def free_cores() -> float:
    """How many cores this run actually gets right now: one pure-Python loop alone, then two at once in
    two processes (2.0 on an idle 2-core machine, about 1.0 when other work holds a core)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_burn, range(2)))  # warm up
        t = time.perf_counter()
        pool.submit(_burn).result()
        alone = time.perf_counter() - t
        t = time.perf_counter()
        list(pool.map(_burn, range(2)))
        pair = time.perf_counter() - t
    return 2 * alone / pair


def cluster_cpu(client) -> float:
    """CPU seconds the cluster's worker processes have used so far: the work itself, which the machine's load
    does not change (the wall time it takes does)."""
    return sum(client.run(time.process_time).values())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tornado-draws", type=int, default=2000)
    ap.add_argument("--sobol-n", type=int, default=512)
    ap.add_argument("--sobol-draws", type=int, default=50)
    ap.add_argument("--knob-points", type=int, default=11)
    ap.add_argument("--skip-sobol", action="store_true")
    ap.add_argument("--skip-single", action="store_true", help="skip the one-process tornado (no speed-up figure)")
    args = ap.parse_args()

    print(f"cores: {os.cpu_count()}; free cores measured now: {free_cores():.2f}; {load()}")
    policy = load_policy()
    homes = read_homes()
    graph = build_graph(homes, read_layer("barriers"))
    result, secs = timed(lambda: partition(homes, graph, policy=policy, seed=0))
    plan = result.plan
    factors = ranged_factors(policy)
    print(f"plan: {plan.n_grids()} grids (optimizer {secs:.1f} s); factors: {len(factors)} ranged assumptions")
    ok = True

    (cluster_cm, client), start_s = timed(lambda: _start())
    print(f"local cluster ({WORKERS} worker processes) started in {start_s:.2f} s")
    try:
        model = BudgetRun({"plan": plan}, policy, args.tornado_draws, seed=0)
        cpu = cluster_cpu(client)
        tor, t_cluster = timed(lambda: tornado(model, factors, client=client, progress=False))
        cpu = cluster_cpu(client) - cpu
        print(f"1. tornado: {tor.meta['runs']} runs × {args.tornado_draws} draws on the cluster: {t_cluster:.1f} s "
              f"(target < 30 s) {'OK' if t_cluster < 30 else 'OVER'}; workers' CPU {cpu:.1f} s "
              f"(on {WORKERS} free cores ≈ {cpu / WORKERS:.1f} s); {load()}")
        ok &= t_cluster < 30
        if not args.skip_single:
            single, t_single = timed(lambda: tornado(model, factors, progress=False))
            same = single.table.equals(tor.table)
            print(f"   same tornado on one process: {t_single:.1f} s → cluster speed-up ×{t_single / t_cluster:.2f} "
                  f"on {WORKERS} workers (free cores now: {free_cores():.2f}); identical results: {same}")
            ok &= same

        if not args.skip_sobol:
            smodel = BudgetRun({"plan": plan}, policy, args.sobol_draws, seed=0)
            cpu = cluster_cpu(client)
            sob, t_sobol = timed(lambda: sobol(smodel, factors, args.sobol_n, client=client, progress=False))
            cpu = cluster_cpu(client) - cpu
            print(f"2. Sobol N = {args.sobol_n}: {sob.meta['runs']} runs × {args.sobol_draws} draws: {t_sobol:.1f} s "
                  f"({1000 * t_sobol / sob.meta['runs']:.1f} ms a run) (target < 300 s) "
                  f"{'OK' if t_sobol < 300 else 'OVER'}; workers' CPU {cpu:.0f} s ({1000 * cpu / sob.meta['runs']:.1f} "
                  f"ms a run; on {WORKERS} free cores ≈ {cpu / WORKERS:.0f} s); {load()}")
            ok &= t_sobol < 300
            top = sob.table[sob.table["output"] == "total_p50"].nlargest(3, "ST")
            print("   total P50, largest ST: " + "; ".join(f"{r.key} {r.ST:.2f} ± {r.ST_conf:.2f}" for r in top.itertuples()))

        cap = knob(policy, "grid.community.max_planned_households",
                   [int(round(400 + 100 * i / (args.knob_points - 1))) for i in range(args.knob_points)])
        ks, t_knob = timed(lambda: knob_sweep(homes, graph, policy, [cap], draws=200, seed=0, client=client,
                                              progress=False))
        grids = ks.table.set_index("grid.community.max_planned_households")["grids"].astype(int)
        print(f"3. knob sweep: {len(grids)} points, {ks.meta['partitions']} re-partitions, 200 draws each: "
              f"{t_knob:.1f} s (target < 60 s) {'OK' if t_knob < 60 else 'OVER'}; grids {grids.to_dict()}; {load()}")
        ok &= t_knob < 60

        sobol(Ishigami(), Ishigami.factors(), 64, progress=False)  # imports SALib's modules: not Dask's cost
        tiny_here, t_here = timed(lambda: sobol(Ishigami(), Ishigami.factors(), 64, progress=False))
        tiny_there, t_there = timed(lambda: sobol(Ishigami(), Ishigami.factors(), 64, client=client, progress=False))
        print(f"4. Dask overhead, tiny sweep ({tiny_here.meta['runs']} Ishigami evaluations): one process "
              f"{1000 * t_here:.0f} ms, cluster {1000 * t_there:.0f} ms (+{1000 * (t_there - t_here):.0f} ms); "
              f"identical: {tiny_here.table.equals(tiny_there.table)}")
    finally:
        _, stop_s = timed(lambda: cluster_cm.__exit__(None, None, None))
    print(f"   cluster start {start_s:.2f} s + stop {stop_s:.2f} s; {load()}")
    return 0 if ok else 1


def _start():
    cm = dask_client(workers=WORKERS)
    return cm, cm.__enter__()


if __name__ == "__main__":
    sys.exit(main())
