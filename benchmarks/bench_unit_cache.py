"""The plans pages 06 and 07 of ``gridsim report`` need, from a cold plan cache, with and without the
per-unit cache (:mod:`gridsim.partition.unit_cache`).

Page 06 partitions once per distinct set of grid rules (baseline, community_cap_400,
village_registered_households, visits_shared, workload_ceiling) and page 07's knob at community caps
400/450/500, all through one plan cache (:func:`gridsim.scenario_plan.scenario_plan`), on the embedded
register with its barriers, seed 0, time limit 120 s. A scenario that changes only the community cap
leaves every village's problem as it was: with the unit cache those units are read, not solved. Each
pass runs in its own process on a fresh folder; wall and CPU seconds (the process and its children)
and the load average are printed beside each plan, since the machine may be shared.

    python benchmarks/bench_unit_cache.py           # both passes, units cache off then on
    python benchmarks/bench_unit_cache.py --pass on
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCENARIOS = ("baseline", "community_cap_400", "village_registered_households", "visits_shared", "workload_ceiling")
CAPS = (400, 450, 500)


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def one_pass(units_on: bool) -> None:
    import gridsim.scenario_plan as sp
    from gridsim.graph import build_graph
    from gridsim.partition import partition
    from gridsim.policy import load_policy
    from gridsim.registers import read_homes, read_layer

    if not units_on:  # the plan cache alone, as before the unit cache
        sp.partition = lambda *a, unit_cache="", **k: partition(*a, **k)
    homes = read_homes()
    graph = build_graph(homes, read_layer("barriers"))
    runs = [(s, load_policy(s)) for s in SCENARIOS]
    runs += [(f"07 cap {c}", load_policy().with_overrides({"grid.community.max_planned_households": c})) for c in CAPS]
    label = "unit cache on" if units_on else "unit cache off"
    with tempfile.TemporaryDirectory(prefix="gridsim-bench-units-") as cache:
        wall0, cpu0, load0 = time.perf_counter(), cpu_seconds(), os.getloadavg()
        for name, policy in runs:
            t, c = time.perf_counter(), cpu_seconds()
            result, source = sp.scenario_plan(homes, graph, policy, seed=0, time_limit=120.0, cache_dir=cache)
            print(f"  {label} | {name}: {time.perf_counter() - t:.1f} s wall, {cpu_seconds() - c:.1f} CPU s, "
                  f"{result.plan.n_grids()} grids, units from the unit cache {result.units_cached}/{len(result.units)}"
                  + (", whole plan from the plan cache" if source else "")
                  + (", HIT TIME LIMIT" if result.hit_time_limit else ""), flush=True)
        print(f"{label}: all {len(runs)} plans {time.perf_counter() - wall0:.1f} s wall, "
              f"{cpu_seconds() - cpu0:.1f} CPU s; load {'/'.join(f'{x:.2f}' for x in load0)} → "
              f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pass", dest="which", choices=["off", "on"], default=None)
    args = parser.parse_args()
    if args.which:
        one_pass(args.which == "on")
        return 0
    for which in ("off", "on"):
        code = subprocess.run([sys.executable, __file__, "--pass", which]).returncode
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
