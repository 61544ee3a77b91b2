"""One unit's partitioning problem as plain arrays: what the constructor and the local search work on.

Both unit types reduce to the same form — every grid must keep a *ceiling* ``A`` on one count ``a`` and a
*floor* ``B`` on another count ``b``, as :mod:`gridsim.grid_rules` defines them for the unit type (a
community: planned households ≤ 500, resident households ≥ 250; a village: 100 ≤ count ≤ 300, the count
being houses or registered households by ``grid.village.count_basis``). The problem keeps the
:class:`~gridsim.grid_rules.UnitRules` it was built from, so messages name the counts the same way.

A grid's *penalty* is how far it is outside its limits, in households: ``max(0, Σa − A) + max(0, B − Σb)``;
a plan is legal when every grid's penalty is 0 (and it is contiguous).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..graph import HomeGraph
from ..grid_rules import UnitRules, unit_rules
from ..policy import Policy


@dataclass(eq=False)
class UnitProblem:
    """Homes of one unit, renumbered ``0..n-1``; ``nodes`` maps back to positions in the register."""

    unit_id: str
    unit_type: str
    nodes: np.ndarray  # register positions
    a: np.ndarray  # the count with a ceiling (int)
    b: np.ndarray  # the count with a floor (int)
    households: np.ndarray
    A: int
    B: int
    adj: list[list[int]]  # neighbour lists (local)
    adj_w: list[list[float]]  # cutting weight of each neighbour edge
    edges: np.ndarray  # (m, 2) local, i < j
    weight: np.ndarray  # (m,)
    length: np.ndarray  # (m,) metres (NaN if unknown)
    road: np.ndarray  # (m,) edge crosses a road
    group: np.ndarray  # group code per home (-1 if none)
    old: np.ndarray  # code of today's grid per home (-1 if none)
    xy: np.ndarray  # (n, 2) coordinates, NaN if unknown
    home_ids: np.ndarray
    group_ids: np.ndarray  # 村民组/小区 id per home (None if none)
    pin: np.ndarray | None = None  # repair: today's grid code of a pinned home (stays there), -1 if free
    rules: UnitRules | None = None  # the limits A and B come from

    @property
    def n(self) -> int:
        return len(self.nodes)

    def penalty(self, sa, sb):
        """Households outside the limits for grids with sums ``sa`` (ceilinged) and ``sb`` (floored)."""
        return np.maximum(0, np.asarray(sa) - self.A) + np.maximum(0, self.B - np.asarray(sb))


def unit_problems(homes: pd.DataFrame, graph: HomeGraph, policy: Policy,
                  reference: np.ndarray | None, pinned: np.ndarray | None = None) -> list[UnitProblem]:
    """Split the register into one :class:`UnitProblem` per unit (in unit id order); ``pinned``
    (boolean per home) marks homes that keep their grid in ``reference``."""
    hh = homes["households"].to_numpy(np.int64)
    counts = {"households": hh, "resident_households": homes["resident_households"].to_numpy(np.int64),
              "key_households": homes["key_households"].to_numpy(np.int64), "homes": np.ones(len(homes), np.int64)}
    utype = homes["unit_type"].to_numpy(dtype=object)
    xy = homes[["x", "y"]].to_numpy(float) if {"x", "y"} <= set(homes.columns) else np.full((len(homes), 2), np.nan)
    if "group_id" in homes.columns:
        gcodes = pd.factorize(homes["group_id"])[0]
        gnames = homes["group_id"].to_numpy(dtype=object)
    else:
        gcodes = np.full(len(homes), -1)
        gnames = np.full(len(homes), None, dtype=object)
    ocodes = pd.factorize(pd.Series(reference, dtype=object))[0] if reference is not None else np.full(len(homes), -1)
    e = graph.edges
    eu = graph.unit_codes[e[:, 0]]
    out = []
    for u, unit_id in enumerate(graph.units):
        nodes = np.flatnonzero(graph.unit_codes == u)
        local = np.full(graph.n, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        sel = eu == u
        le = local[e[sel]]
        w = graph.weight[sel]
        adj = [[] for _ in range(len(nodes))]
        adj_w = [[] for _ in range(len(nodes))]
        for (i, j), wt in zip(le.tolist(), w.tolist()):
            adj[i].append(j)
            adj[j].append(i)
            adj_w[i].append(wt)
            adj_w[j].append(wt)
        ut = str(utype[nodes[0]])
        rules = unit_rules(policy, ut)
        a = counts[rules.ceiling.tally][nodes]
        b = counts[rules.floor.tally][nodes]
        out.append(UnitProblem(str(unit_id), ut, nodes, a, b, hh[nodes], rules.ceiling.value, rules.floor.value,
                               adj, adj_w, le, w, graph.length[sel], graph.crosses_road[sel], gcodes[nodes],
                               ocodes[nodes], xy[nodes], graph.home_ids[nodes], gnames[nodes],
                               None if pinned is None else np.where(pinned[nodes], ocodes[nodes], -1), rules))
    return out


def components(prob: UnitProblem) -> tuple[int, np.ndarray]:
    """Connected pieces of the unit under its adjacency: (count, label per home)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = prob.n
    mat = coo_matrix((np.ones(len(prob.edges)), (prob.edges[:, 0], prob.edges[:, 1])), shape=(n, n))
    return connected_components(mat, directed=False)
