"""The exact search for small pieces: against brute force, and as the optimizer uses it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.graph import graph_from_edges
from gridsim.partition import lower_bounds, partition
from gridsim.partition.exact import fewest_legal_grids
from gridsim.partition.problem import UnitProblem
from gridsim.partition.stranded import _partitions


def _problem(n, edges, a, b, A=500, B=250):
    adj = [[] for _ in range(n)]
    for i, j in edges:
        adj[i].append(j)
        adj[j].append(i)
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    m = len(e)
    return UnitProblem("u", "community", np.arange(n), np.array(a), np.array(b), np.array(a), A, B, adj,
                       [[1.0] * len(x) for x in adj], e, np.ones(m), np.ones(m), np.zeros(m, bool),
                       np.full(n, -1), np.full(n, -1), np.zeros((n, 2)), np.array([f"h{i}" for i in range(n)]),
                       np.array([None] * n))


def _connected(adj, part):
    part = set(part)
    start = next(iter(part))
    seen, stack = {start}, [start]
    while stack:
        v = stack.pop()
        for u in adj[v]:
            if u in part and u not in seen:
                seen.add(u)
                stack.append(u)
    return seen == part


@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force_on_small_random_pieces(seed):
    rng = np.random.default_rng(seed)
    decided = {True: 0, False: 0}
    for _ in range(40):
        n = int(rng.integers(2, 9))
        pts = rng.random((n, 2))
        edges = {(i, i + 1) for i in range(n - 1)}
        edges |= {(i, j) for i in range(n) for j in range(i + 1, n) if np.hypot(*(pts[i] - pts[j])) < 0.5}
        a = rng.integers(20, 200, n).tolist()
        b = [int(x * rng.uniform(0.3, 1.0)) for x in a]
        prob = _problem(n, sorted(edges), a, b)
        best = None
        for share in _partitions(list(range(n))):
            if all(sum(a[v] for v in p) <= 500 and sum(b[v] for v in p) >= 250 and _connected(prob.adj, p)
                   for p in share):
                best = len(share) if best is None else min(best, len(share))
        found = fewest_legal_grids(prob)
        assert found is not None and found.grids == best
        decided[best is not None] += 1
        if best is not None:
            for g in range(best):
                part = np.flatnonzero(found.labels == g).tolist()
                assert sum(a[v] for v in part) <= 500 and sum(b[v] for v in part) >= 250
                assert _connected(prob.adj, part)
    assert decided[True] and decided[False]  # both answers occur


def test_budget_gives_up_instead_of_guessing():
    n = 30  # a ladder of small homes: very many connected sets
    edges = [(i, i + 1) for i in range(n - 1)] + [(i, i + 2) for i in range(n - 2)]
    prob = _problem(n, edges, [20] * n, [19] * n)  # 600 planned, 570 resident: two grids, found the hard way
    assert fewest_legal_grids(prob, budget=1000) is None


def _unit(rows, edges):
    homes = pd.DataFrame(rows, columns=["home_id", "households", "resident_households"])
    homes["x"], homes["y"] = 0.0, 0.0
    homes["unit_id"], homes["unit_type"], homes["key_households"] = "u", "community", 0
    graph = graph_from_edges(homes, pd.DataFrame(edges, columns=["home_a", "home_b"]))
    return homes, graph


@pytest.mark.parametrize("leaves_touch", [False, True])
def test_a_star_of_half_empty_buildings_is_proven_infeasible(leaves_touch):
    # every building alone is under 250 residents and any two make a grid: with three leaves that only
    # touch the centre, one leaf is always left alone; when two leaves touch, {l1, l2} + {c, l3} is legal
    rows = [(h, 240, 170) for h in ("c", "l1", "l2", "l3")]
    edges = [("c", "l1"), ("c", "l2"), ("c", "l3")] + ([("l1", "l2")] if leaves_touch else [])
    homes, graph = _unit(rows, edges)
    assert bool(lower_bounds(homes, graph)["feasible"].iat[0])  # the bounds alone do not see it
    result = partition(homes, graph, seed=0)
    codes = {d.code for d in result.diagnoses}
    assert ("no_legal_plan" in codes) != leaves_touch
    assert (result.units["violations"].iat[0] == 0) == leaves_touch
    assert bool(result.units["feasible"].iat[0]) == leaves_touch


def test_the_proven_minimum_replaces_a_weaker_lower_bound():
    # 260 + 240 fills a grid, but the two 260s only touch each other: two grids are impossible, three work
    rows = [("h1", 260, 260), ("h4", 260, 260), ("h2", 240, 240), ("h3", 240, 240)]
    homes, graph = _unit(rows, [("h1", "h4"), ("h4", "h2"), ("h2", "h3")])
    assert lower_bounds(homes, graph)["lower_bound"].iat[0] == 2
    result = partition(homes, graph, seed=0)
    unit = result.units.iloc[0]
    assert unit["violations"] == 0 and unit["grids"] == 3 and unit["lower_bound"] == 3
