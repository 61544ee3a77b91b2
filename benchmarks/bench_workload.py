"""Benchmark: the cost of the workload ceiling in the optimizer, on the embedded data, in one run.

Partitions the embedded register twice with the same seed and one process (so the times compare): the
baseline (no workload ceiling) and with ``workload.ceiling_applies`` on at ``--ceiling`` hours (default:
the assumption ``workload.ceiling_hours_month``). Prints both times and their ratio, the grids against
the sum of lower bounds, the hours per grid (min / median / max for villages and communities, exact
model, :func:`gridsim.workload.workload`) and how many grids exceed the ceiling or are named in a
diagnosis; also the time of one exact workload evaluation of the whole plan.

Run: ``python benchmarks/bench_workload.py [--ceiling H] [--seed N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridsim.graph import build_graph  # noqa: E402
from gridsim.partition import partition  # noqa: E402
from gridsim.policy import load_baseline  # noqa: E402
from gridsim.registers import read_homes, read_layer  # noqa: E402
from gridsim.workload import workload  # noqa: E402


def hours_line(plan, policy, homes) -> str:
    t = time.perf_counter()
    w = workload(plan, policy)
    took = time.perf_counter() - t
    kind = w["unit_id"].map(homes.groupby("unit_id")["unit_type"].first())
    parts = []
    for ut, label in (("village", "村 villages"), ("community", "社区 communities")):
        h = w.loc[kind == ut, "hours_month"]
        parts.append(f"{label} {h.min():.1f} / {h.median():.1f} / {h.max():.1f}")
    return f"月工时 hours/month min/median/max: {'; '.join(parts)} (exact model {took:.2f} s)", w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ceiling", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    homes = read_homes()
    graph = build_graph(homes, read_layer("barriers"))
    base = load_baseline()
    ceiling = float(base["workload.ceiling_hours_month"]) if args.ceiling is None else args.ceiling
    on = base.with_overrides({"workload.ceiling_applies": True, "workload.ceiling_hours_month": ceiling})
    times = {}
    for name, pol in (("off", base), ("on", on)):
        t = time.perf_counter()
        r = partition(homes, graph, policy=pol, seed=args.seed, workers=1)
        times[name] = time.perf_counter() - t
        line, w = hours_line(r.plan, pol, homes)
        over = w[w["hours_month"] > ceiling + 1e-9]
        named = {d.unit_id for d in r.diagnoses if d.code in ("workload_over_ceiling", "home_over_workload")}
        unnamed = sorted(set(over["unit_id"]) - named)
        print(f"[ceiling {name}] {times[name]:.1f} s; grids {r.plan.n_grids()} (lower bounds {int(r.units['lower_bound'].sum())}); "
              f"grids above {ceiling:g} h: {len(over)} (units not named in a diagnosis: {unnamed or 'none'})")
        print("   " + line)
    print(f"ratio on/off: {times['on'] / times['off']:.2f}")


if __name__ == "__main__":
    main()
