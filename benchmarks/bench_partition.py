"""Benchmark: gridsim's optimizer against GerryChain and spopt, in one process, printed as ratios.

For each unit of the embedded data set (and of generated registers): time, grids against the lower
bound, cut edges, rule violations. Peers, on the same adjacency graph:

* GerryChain (``bench`` extra): ``recursive_tree_part`` at *our* number of grids, population =
  households (planned households in communities) with the largest tolerance that keeps every part within
  the ceiling and floor on that one count, then a short ReCom chain; the fewest cut edges seen is its
  score. It cannot hold a second count (the resident floor), so its community plans are checked by our
  rules too.
* spopt ``MaxPHeuristic`` on a few villages: floor = the village minimum, no ceiling (max-p maximizes
  the number of regions), to show what the plan's ceiling changes.

Ours runs with its defaults, i.e. on all cores (units in parallel; the plan does not depend on it);
GerryChain and spopt run in this process, one core. Targets (issue 3): cut edges ≤ 0.8 × GerryChain's at the same number of grids; our whole-register time
below GerryChain's time for the village units alone; every feasible unit legal and within one grid of
its lower bound.

Run: ``python benchmarks/bench_partition.py [--quick] [--recom-steps N] [--generated N]``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridsim.graph import build_graph  # noqa: E402
from gridsim.partition import partition  # noqa: E402
from gridsim.partition.instances import register  # noqa: E402
from gridsim.plan import Plan  # noqa: E402
from gridsim.policy import load_policy  # noqa: E402


def _gerrychain_unit(homes, graph, unit_id, k, policy, steps, seed):
    """GerryChain's best plan (fewest cut edges over the chain) for one unit at ``k`` grids."""
    import networkx as nx
    from gerrychain import Graph, MarkovChain, Partition
    from gerrychain.accept import always_accept
    from gerrychain.constraints import within_percent_of_ideal_population
    from gerrychain.proposals import recom
    from gerrychain.tree import bipartition_tree
    from gerrychain.partition.initial_partition_generators import recursive_tree_part
    from gerrychain.updaters import Tally, cut_edges

    nodes = np.flatnonzero(graph.unit_codes == list(graph.units).index(unit_id))
    sub = nx.Graph()
    pop = homes["households"].to_numpy()
    sub.add_nodes_from((int(v), {"pop": int(pop[v])}) for v in nodes)
    mask = np.isin(graph.edges[:, 0], nodes)
    sub.add_edges_from((int(a), int(b)) for a, b in graph.edges[mask])
    if not nx.is_connected(sub) or k < 2:
        return None
    utype = homes["unit_type"].iat[int(nodes[0])]
    A, B = ((policy["grid.community.max_planned_households"], 0) if utype == "community"
            else (policy["grid.village.max_households"], policy["grid.village.min_households"]))
    target = pop[nodes].sum() / k
    eps = max(0.005, min(A / target - 1, 1 - B / target if B else 1.0))
    sub = nx.convert_node_labels_to_integers(sub, ordering="sorted", label_attribute="home")
    g = Graph.from_networkx(sub)
    to_home = {node: int(nodes[g._node_id_to_original_nx_node_id_map.get(node, node)]) for node in g.nodes}
    rng = random.Random(seed)
    t0 = time.perf_counter()
    try:
        assign = recursive_tree_part(g, range(k), target, "pop", eps,
                                     bipartition_tree_fn=partial(bipartition_tree, max_attempts=5000), rng=rng)
    except Exception as exc:  # GerryChain gives up when no balanced cut exists at this tolerance
        return {"gc_seconds": time.perf_counter() - t0, "gc_cut": np.nan, "gc_error": type(exc).__name__}
    part = Partition(g, assign, updaters={"pop": Tally("pop", alias="pop"), "cut_edges": cut_edges})
    best_cut, best = len(part["cut_edges"]), {to_home[n]: assign[n] for n in assign}
    if steps:
        proposal = partial(recom, pop_col="pop", pop_target=target, epsilon=eps, node_repeats=0)
        chain = MarkovChain(proposal, [within_percent_of_ideal_population(part, eps, pop_key="pop")], always_accept, part,
                            total_steps=steps, rng=rng)
        try:
            for state in chain:
                c = len(state["cut_edges"])
                if c < best_cut:
                    best_cut, best = c, {to_home[n]: state.assignment[n] for n in state.graph.nodes}
        except Exception:  # a stuck chain keeps the best plan seen so far
            pass
    return {"gc_seconds": time.perf_counter() - t0, "gc_cut": best_cut, "gc_assign": best, "gc_error": ""}


def _spopt_unit(homes, graph, unit_id, policy, seed):
    """spopt max-p on one unit: regions, how many break the ceiling, cut edges, time."""
    import geopandas as gpd
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    nodes = np.flatnonzero(graph.unit_codes == list(graph.units).index(unit_id))
    local = {int(v): i for i, v in enumerate(nodes)}
    neigh = {i: [] for i in range(len(nodes))}
    mask = np.isin(graph.edges[:, 0], nodes)
    for a, b in graph.edges[mask]:
        neigh[local[int(a)]].append(local[int(b)])
        neigh[local[int(b)]].append(local[int(a)])
    sub = homes.iloc[nodes]
    gdf = gpd.GeoDataFrame({"hh": sub["households"].to_numpy(), "x": sub["x"].to_numpy(), "y": sub["y"].to_numpy()},
                           geometry=gpd.points_from_xy(sub["x"], sub["y"]))
    w = W(neigh, silence_warnings=True)
    np.random.seed(seed)  # spopt draws from numpy's global generator
    t0 = time.perf_counter()
    model = MaxPHeuristic(gdf, w, ["x", "y"], "hh", policy["grid.village.min_households"], top_n=2,
                          max_iterations_construction=3, max_iterations_sa=1)
    model.solve()
    secs = time.perf_counter() - t0
    lab = np.asarray(model.labels_)
    sums = pd.Series(gdf["hh"].to_numpy()).groupby(lab).sum()
    e = np.array([(local[int(a)], local[int(b)]) for a, b in graph.edges[mask]])
    return {"sp_regions": int(model.p), "sp_over_ceiling": int((sums > policy["grid.village.max_households"]).sum()),
            "sp_cut": int((lab[e[:, 0]] != lab[e[:, 1]]).sum()), "sp_seconds": secs}


def bench(homes, label, policy, steps, seed, spopt_units, barriers=None):
    graph = build_graph(homes, barriers)
    t0 = time.perf_counter()
    res = partition(homes, graph, policy=policy, seed=seed)
    ours_total = time.perf_counter() - t0
    units = res.units.copy()
    rows = []
    gc_assign = np.asarray(res.plan.assignment.to_numpy(), dtype=object)
    for u in units.itertuples():
        row = {"unit_id": u.unit_id, "unit_type": u.unit_type, "homes": u.homes, "lower": u.lower_bound,
               "grids": u.grids, "violations": u.violations, "feasible": u.feasible, "cut": u.cut_edges,
               "seconds": u.seconds}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gc = _gerrychain_unit(homes, graph, u.unit_id, u.grids, policy, steps, seed)
        if gc:
            gc["gc_violations"] = 0.0 if "gc_assign" in gc else np.nan
            row.update({k: v for k, v in gc.items() if k != "gc_assign"})
            if "gc_assign" in gc:
                for v, part in gc["gc_assign"].items():
                    gc_assign[v] = f"{u.unit_id}-gc{part}"
        if u.unit_id in spopt_units:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row.update(_spopt_unit(homes, graph, u.unit_id, policy, seed))
        rows.append(row)
    df = pd.DataFrame(rows)
    gc_plan = Plan(homes, graph, gc_assign, policy)
    gv = gc_plan.violations_frame()
    failed = df["gc_violations"].isna() if "gc_violations" in df else pd.Series(False, index=df.index)
    df["gc_violations"] = df["unit_id"].map(gv.groupby("unit_id").size()).fillna(0).where(~failed)
    print(f"\n=== {label}: {len(homes)} homes, {len(units)} units ===")
    cols = [c for c in ["unit_id", "unit_type", "homes", "lower", "grids", "violations", "cut", "gc_cut",
                        "gc_violations", "seconds", "gc_seconds", "sp_regions", "sp_over_ceiling", "sp_cut",
                        "sp_seconds"] if c in df.columns]
    print(df[cols].round(3).to_string(index=False))
    both = df.dropna(subset=["gc_cut"]) if "gc_cut" in df else df.iloc[0:0]
    vill = df[df["unit_type"] == "village"]
    feas = df[df["feasible"]]
    print(f"ours ({os.cpu_count()} cores): {ours_total:.1f} s total; grids {int(df['grids'].sum())} vs lower bounds {int(df['lower'].sum())}; "
          f"max gap {int((df['grids'] - df['lower']).max())}; feasible units with violations: "
          f"{int((feas['violations'] > 0).sum())} of {len(feas)}")
    if len(both):
        print(f"cut edges ours / GerryChain (same grids, {len(both)} units): "
              f"{both['cut'].sum() / both['gc_cut'].sum():.3f}  (target <= 0.8)")
        vb = both[both["unit_type"] == "village"]
        if len(vb):
            print(f"  villages: {vb['cut'].sum() / vb['gc_cut'].sum():.3f}; communities: "
                  f"{(both['cut'].sum() - vb['cut'].sum()) / max(1, both['gc_cut'].sum() - vb['gc_cut'].sum()):.3f}")
        legal = both[(both["violations"] == 0) & (both["gc_violations"] == 0)]
        lc = legal[legal["unit_type"] == "community"]
        if len(lc):
            print(f"  communities where both plans are legal ({len(lc)}): {lc['cut'].sum() / lc['gc_cut'].sum():.3f}")
        print(f"GerryChain plans breaking our rules: {int((df['gc_violations'] > 0).sum())} units "
              f"({int(df['gc_violations'].sum())} violations); failures: {int((df.get('gc_error', pd.Series(dtype=str)).fillna('') != '').sum())}")
    if "gc_seconds" in df:
        gv_time = vill["gc_seconds"].sum()
        print(f"time ours (all units) / GerryChain (villages only): {ours_total:.1f} / {gv_time:.1f} = "
              f"{ours_total / max(gv_time, 1e-9):.3f}  (target < 1)")
    if "sp_regions" in df:
        sp = df.dropna(subset=["sp_regions"])
        print(f"spopt max-p ({len(sp)} villages): regions {int(sp['sp_regions'].sum())} vs ours {int(sp['grids'].sum())}; "
              f"regions over the ceiling {int(sp['sp_over_ceiling'].sum())}; cut ours/spopt "
              f"{sp['cut'].sum() / sp['sp_cut'].sum():.3f}; time ours/spopt {sp['seconds'].sum() / sp['sp_seconds'].sum():.3f}")
    return df


def _smallest_villages(homes, k):
    sizes = homes[homes["unit_type"] == "village"].groupby("unit_id").size().sort_values(kind="stable")
    return list(sizes.index[:k])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recom-steps", type=int, default=50, help="ReCom steps per unit (default 50)")
    ap.add_argument("--generated", type=int, default=2, help="generated registers to run (default 2)")
    ap.add_argument("--spopt", type=int, default=1, help="smallest villages per register given to spopt (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="generated registers only, fewer steps")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")  # GerryChain and spopt warn on every failed cut; the tables say enough
    policy = load_policy()
    if not args.quick:
        from gridsim.registers import read_homes, read_layer

        homes = read_homes()
        villages = _smallest_villages(homes, args.spopt)
        bench(homes, "embedded Shihe data", policy, args.recom_steps, args.seed, villages, read_layer("barriers"))
    for s in range(args.generated):
        homes = register(1000 + s, villages=5, communities=5)
        villages = _smallest_villages(homes, args.spopt)
        bench(homes, f"generated register {1000 + s}", policy, args.recom_steps if not args.quick else 10,
              args.seed, villages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
