"""How long ``gridsim report`` takes: the baseline alone and every scenario, cold and with the plan cache.

Targets (issue 13): the baseline alone under 20 s, all scenarios under 2 minutes, on 2 cores from a warm
install. The machine may be shared, so the load average before and after each run is printed beside the
times, and the CPU seconds the run used (this process and its children) — a figure the other users do not
inflate. Per page, the time to execute and convert it. ``--draws`` also measures how far the yearly funding
percentiles of the report's default replicates move from a run with many more.

    python benchmarks/bench_report.py                # baseline cold, baseline warm, all scenarios warm
    python benchmarks/bench_report.py --only baseline
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(label: str, scenarios: list[str], out: Path, jobs: int | None) -> float:
    from gridsim import report

    load0, cpu0, t0 = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
    summary = report.run_reports(scenarios, out, progress=False, jobs=jobs)
    wall, cpu, load1 = time.perf_counter() - t0, cpu_seconds() - cpu0, os.getloadavg()[0]
    bad = [f"{r.scenario}/{r.notebook}: {r.status} {r.message}" for r in summary.failed]
    print(f"{label}: {wall:.1f} s wall, {cpu:.0f} CPU s, {len(summary.results)} pages, "
          f"load {load0:.1f} → {load1:.1f} ({os.cpu_count()} cores)" + (f"; FAILED {bad}" if bad else ""))
    pages: dict[str, list[float]] = {}
    for r in summary.results:
        if r.status != "shared":  # a page across scenarios, made once (for the baseline) and linked
            pages.setdefault(r.notebook, []).append(r.seconds)
    shared = sum(r.status == "shared" for r in summary.results)
    print("  per page (s, execute + HTML): " + ", ".join(
        f"{k} {v[0]:.1f}" if len(v) == 1 else f"{k} median {statistics.median(v):.1f} / max {max(v):.1f} (of {len(v)})"
        for k, v in pages.items()) + (f"; {shared} shared links" if shared else ""))
    return wall


def draws_spread(draws: int, reference: int = 4000) -> None:
    """Yearly total, P5/P50/P95: ``draws`` replicates against ``reference`` (other seeds), in per cent."""
    from gridsim.budget import simulate_budget
    from gridsim.graph import build_graph
    from gridsim.policy import load_policy
    from gridsim.registers import read_homes, read_layer
    from gridsim.scenario_plan import scenario_plan

    homes = read_homes()
    graph = build_graph(homes, read_layer("barriers"))
    policy = load_policy()
    plan = scenario_plan(homes, graph, policy, seed=0, time_limit=120.0)[0].plan
    ref = simulate_budget(plan, policy, draws=reference, seed=99).summary.set_index("item").loc["total"]
    worst = {}
    for seed in range(5):
        t = time.perf_counter()
        got = simulate_budget(plan, policy, draws=draws, seed=seed).summary.set_index("item").loc["total"]
        sec = time.perf_counter() - t
        for q in ("p5", "p50", "p95"):
            worst[q] = max(worst.get(q, 0.0), abs(got[q] / ref[q] - 1))
    print(f"draws {draws} vs {reference}: largest deviation over 5 seeds — "
          + ", ".join(f"{q} {v:.1%}" for q, v in worst.items()) + f"; {sec:.2f} s per budget")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["baseline", "all"], default=None)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    from gridsim.policy import list_scenarios

    everything = [s.id for s in list_scenarios()]
    with tempfile.TemporaryDirectory(prefix="gridsim-bench-report-") as tmp:
        out = Path(tmp) / "reports"
        if args.only in (None, "baseline"):
            run("baseline, cold cache", ["baseline"], out, args.jobs)
            run("baseline, warm cache", ["baseline"], out, args.jobs)
        if args.only in (None, "all"):
            run(f"all {len(everything)} scenarios" + (", warm cache" if args.only is None else ""), everything, out,
                args.jobs)
    if args.only is None:
        draws_spread(args.draws)
    return 0


if __name__ == "__main__":
    sys.exit(main())
