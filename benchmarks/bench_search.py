"""Benchmark and identity check for the optimizer's local search (issue 13).

Runs :func:`gridsim.partition.partition` (one process, seed 0, no time limit, no unit cache) for each
distinct optimizer policy of the shipped scenarios (:func:`gridsim.scenario_plan.optimizer_policy`),
the baseline with ``grid.community.max_planned_households`` at 450, ``mode="repair"`` once from today's
map, and one generated register (:func:`gridsim.partition.instances.register`), all on the embedded
data set. For each plan it prints the CPU seconds (``time.process_time``) and a sha256 of the plan's
assignment (its first 16 hex digits), then the total CPU. A speed-up of the search is only acceptable when every hash equals the
one printed by the code before the change (run this script with ``PYTHONPATH`` pointing at either tree;
it imports whichever ``gridsim`` is on the path and prints which).

Run: ``PYTHONPATH=$PWD python benchmarks/bench_search.py [--only NAME ...] [--search]`` (``--search``:
also the CPU of the :class:`~gridsim.partition.search.LocalSearch` steps alone, recombination's
spanning trees included).

Last figures (2026-11-30, 2 cores shared with other jobs, so ±5 % between runs): main before issue 13's
speed-up and this branch after it, run back to back at 13:28 UTC (``uptime`` load 2.5–3.0); every
hash equal, and equal to main's first run at 13:11 (load 0.65: partition 35.94 s in all).

::

    plan                           partition before / after   search before / after
    baseline                        3.58 /  2.78 s             3.16 /  2.36 s
    community_cap_400               3.30 /  2.58 s             2.90 /  2.15 s
    village_registered_households   3.51 /  2.80 s             3.03 /  2.28 s
    visits_shared                   3.55 /  2.82 s             3.18 /  2.37 s
    workload_ceiling                6.13 /  4.11 s             5.57 /  3.53 s
    cap450                          4.16 /  3.23 s             3.73 /  2.76 s
    repair                          7.30 /  5.53 s             6.86 /  5.05 s
    generated7                      3.33 /  2.34 s             3.03 /  2.04 s
    total                          34.86 / 26.19 s (-25 %)    31.46 / 22.53 s (-28 %)
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np


def _digest(assignment) -> str:
    text = "\n".join("" if g is None or (isinstance(g, float) and np.isnan(g)) else str(g)
                     for g in assignment.tolist())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _cases():
    """``(name, homes, graph, policy, mode)`` for every plan the check runs."""
    from gridsim.graph import build_graph
    from gridsim.partition.instances import register
    from gridsim.policy import list_scenarios, load_policy
    from gridsim.report_inputs import load_inputs
    from gridsim.scenario_plan import optimizer_policy

    d = load_inputs("")
    homes = d.homes
    graph = build_graph(homes, d.barriers)
    seen: dict[str, str] = {}
    for scen in list_scenarios():
        pol = load_policy(scen.id)
        key = repr(optimizer_policy(pol))
        if key in seen:
            print(f"# {scen.id}: same optimizer rules as {seen[key]}, skipped", flush=True)
            continue
        seen[key] = scen.id
        yield scen.id, homes, graph, pol, "fewest"
    base = load_policy("baseline")
    yield "cap450", homes, graph, base.with_overrides({"grid.community.max_planned_households": 450}), "fewest"
    yield "repair", homes, graph, base, "repair"
    gen = register(7)
    yield "generated7", gen, build_graph(gen), base, "fewest"


SEARCH_STEPS = ("__init__", "climb", "anneal", "anneal_penalty", "recombine")  # what solve.py calls


def _time_search(spent: list) -> None:
    """Add the CPU seconds of each top-level :class:`LocalSearch` step (none calls another) to ``spent[0]``."""
    from functools import wraps

    from gridsim.partition.search import LocalSearch

    def timed(f):
        @wraps(f)
        def run(*a, **k):
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                spent[0] += time.process_time() - t
        return run

    for name in SEARCH_STEPS:
        setattr(LocalSearch, name, timed(getattr(LocalSearch, name)))


def main(argv=None) -> None:
    import gridsim
    from gridsim.partition import partition

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="run only these plans (names as printed)")
    ap.add_argument("--search", action="store_true",
                    help="also time the local search's own steps (LocalSearch) within each plan")
    args = ap.parse_args(argv)
    print(f"# gridsim from {gridsim.__file__}", flush=True)
    spent = [0.0]
    if args.search:
        _time_search(spent)
    total = search = 0.0
    for name, homes, graph, pol, mode in _cases():
        if args.only and name not in args.only:
            continue
        spent[0] = 0.0
        t = time.process_time()
        res = partition(homes, graph, policy=pol, mode=mode, seed=0, time_limit=None, workers=1)
        cpu = time.process_time() - t
        total += cpu
        search += spent[0]
        part = f"  search {spent[0]:6.2f} s" if args.search else ""
        print(f"{name:32s} cpu {cpu:7.2f} s{part}  grids {res.plan.n_grids():4d}  sha {_digest(res.plan.assignment)}",
              flush=True)
    part = f"  search {search:6.2f} s" if args.search else ""
    print(f"{'total':32s} cpu {total:7.2f} s{part}", flush=True)


if __name__ == "__main__":
    main()
