"""How long ``gridsim report`` takes: the baseline alone and every scenario, cold and with the plan cache.

Targets (issue 13): the baseline alone under 20 s, all scenarios under 2 minutes, on 2 cores from a warm
install. The machine may be shared, so the load average before and after each run is printed beside the
times, and the CPU seconds the run used (this process and its children) — a figure the other users do not
inflate. Per page, the time to execute and convert it. ``--draws`` also measures how far the yearly funding
percentiles of the report's default replicates move from a run with many more.

    python benchmarks/bench_report.py                # baseline cold → warm, then all scenarios cold → warm
    python benchmarks/bench_report.py --only baseline

"Cold" is a new report folder (no stored plans, solved units or results: what a first ``make report`` after
``make install`` meets); "warm" makes every page again in the same folder (``--rerun``: plans and results
stored); "repeated" is the same command again (pages whose inputs did not change are kept).
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


def run(label: str, scenarios: list[str], out: Path, jobs: int | None, rerun: bool = False) -> float:
    from gridsim import report

    load0, cpu0, t0 = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
    summary = report.run_reports(scenarios, out, progress=False, jobs=jobs, rerun=rerun)
    wall, cpu, load1 = time.perf_counter() - t0, cpu_seconds() - cpu0, os.getloadavg()[0]
    bad = [f"{r.scenario}/{r.notebook}: {r.status} {r.message}" for r in summary.failed]
    print(f"{label}: {wall:.1f} s wall, {cpu:.0f} CPU s, {len(summary.results)} pages, "
          f"load {load0:.1f} → {load1:.1f} ({os.cpu_count()} cores)" + (f"; FAILED {bad}" if bad else ""))
    pages: dict[str, list[float]] = {}
    kept = sum(r.kept for r in summary.results)
    if kept:
        print(f"  {kept} pages kept from the last run (unchanged inputs)")
    for r in summary.results:
        if r.status != "shared" and not r.kept:  # a page across scenarios, made once (for the baseline) and linked
            pages.setdefault(r.notebook, []).append(r.seconds)
    shared = [r for r in summary.results if r.status == "shared"]
    same = sum(r.html.startswith("../") and r.notebook not in ("06_scenarios", "07_sensitivity") for r in shared)
    print("  per page (s, execute + HTML): " + ", ".join(
        f"{k} {v[0]:.1f}" if len(v) == 1 else f"{k} median {statistics.median(v):.1f} / max {max(v):.1f} (of {len(v)})"
        for k, v in pages.items()) + (f"; {len(shared)} shared links ({same} pages the same as the host's by what "
                                      f"they read, {len(shared) - same} analyses across scenarios)" if shared else ""))
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
        if args.only in (None, "baseline"):
            out = Path(tmp) / "baseline"
            run("baseline, cold", ["baseline"], out, args.jobs)
            run("baseline, warm: pages made again (--rerun), stored results", ["baseline"], out, args.jobs, rerun=True)
            run("baseline, repeated: unchanged pages kept", ["baseline"], out, args.jobs)
        if args.only in (None, "all"):
            out = Path(tmp) / "all"
            run(f"all {len(everything)} scenarios, cold", everything, out, args.jobs)
            run(f"all {len(everything)} scenarios, warm: pages made again (--rerun)", everything, out, args.jobs,
                rerun=True)
            run(f"all {len(everything)} scenarios, repeated: unchanged pages kept", everything, out, args.jobs)
    if args.only is None:
        draws_spread(args.draws)
    return 0


if __name__ == "__main__":
    sys.exit(main())
