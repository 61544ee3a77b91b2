"""One unit's partitioning problem as plain arrays: what the constructor and the local search work on.

Both unit types reduce to the same form — every grid must keep a *ceiling* ``A`` on one count ``a`` and a
*floor* ``B`` on another count ``b``, as :mod:`gridsim.grid_rules` defines them for the unit type (a
community: planned households ≤ 500, resident households ≥ 250; a village: 100 ≤ count ≤ 300, the count
being houses or registered households by ``grid.village.count_basis``). The problem keeps the
:class:`~gridsim.grid_rules.UnitRules` it was built from, so messages name the counts the same way.

A grid's *penalty* is how far it is outside its limits, in households: ``max(0, Σa − A) + max(0, B − Σb)``;
a plan is legal when every grid's penalty is 0 (and it is contiguous). When the policy's workload ceiling
applies (``workload.ceiling_applies``), a grid's hours above ``workload.ceiling_hours_month`` add to the
penalty too (:mod:`.workload`).

Build a problem with :func:`build` (by keyword; the neighbour lists follow from the edges) and restrict
one to some of its homes with :meth:`UnitProblem.subset`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..graph import HomeGraph
from ..grid_rules import UnitRules, unit_rules
from ..policy import Policy
from .workload import UnitWorkload


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
    workload: UnitWorkload | None = None  # hours per grid, when the workload ceiling applies

    @property
    def n(self) -> int:
        return len(self.nodes)

    def local_edges(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Edges with both ends among homes ``idx``: (mask over ``edges``, the edges renumbered to
        positions in ``idx``)."""
        local = np.full(self.n, -1, dtype=np.int64)
        local[idx] = np.arange(len(idx))
        if len(self.edges) == 0:
            return np.zeros(0, dtype=bool), np.empty((0, 2), dtype=np.int64)
        keep = (local[self.edges[:, 0]] >= 0) & (local[self.edges[:, 1]] >= 0)
        return keep, local[self.edges[keep]].reshape(-1, 2)

    def subset(self, idx: np.ndarray) -> "UnitProblem":
        """The unit restricted to homes ``idx`` (renumbered ``0..len(idx)-1``), same limits and rules."""
        idx = np.asarray(idx, dtype=np.int64)
        keep, edges = self.local_edges(idx)
        return build(unit_id=self.unit_id, unit_type=self.unit_type, nodes=self.nodes[idx], a=self.a[idx],
                     b=self.b[idx], households=self.households[idx], A=self.A, B=self.B, edges=edges,
                     weight=self.weight[keep], length=self.length[keep], road=self.road[keep],
                     group=self.group[idx], old=self.old[idx], xy=self.xy[idx], home_ids=self.home_ids[idx],
                     group_ids=self.group_ids[idx], pin=None if self.pin is None else self.pin[idx],
                     rules=self.rules, workload=None if self.workload is None else self.workload.subset(idx))

    def penalty(self, sa, sb):
        """Households outside the limits for grids with sums ``sa`` (ceilinged) and ``sb`` (floored)."""
        return np.maximum(0, np.asarray(sa) - self.A) + np.maximum(0, self.B - np.asarray(sb))


def build(*, edges: np.ndarray, weight: np.ndarray, **fields) -> UnitProblem:
    """A :class:`UnitProblem` by keyword: the neighbour lists come from ``edges`` (local, ``i < j``) and
    their ``weight``; the one place a problem is put together."""
    n = len(fields["nodes"])
    adj: list[list[int]] = [[] for _ in range(n)]
    adj_w: list[list[float]] = [[] for _ in range(n)]
    for (i, j), wt in zip(np.asarray(edges).reshape(-1, 2).tolist(), np.asarray(weight).tolist()):
        adj[i].append(j)
        adj[j].append(i)
        adj_w[i].append(wt)
        adj_w[j].append(wt)
    return UnitProblem(edges=np.asarray(edges, dtype=np.int64).reshape(-1, 2), weight=np.asarray(weight),
                       adj=adj, adj_w=adj_w, **fields)


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
    wl = UnitWorkload.of_register(homes, policy)
    for u, unit_id in enumerate(graph.units):
        nodes = np.flatnonzero(graph.unit_codes == u)
        local = np.full(graph.n, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        sel = eu == u
        ut = str(utype[nodes[0]])
        rules = unit_rules(policy, ut)
        out.append(build(unit_id=str(unit_id), unit_type=ut, nodes=nodes, a=counts[rules.ceiling.tally][nodes],
                         b=counts[rules.floor.tally][nodes], households=hh[nodes], A=rules.ceiling.value,
                         B=rules.floor.value, edges=local[e[sel]], weight=graph.weight[sel],
                         length=graph.length[sel], road=graph.crosses_road[sel], group=gcodes[nodes],
                         old=ocodes[nodes], xy=xy[nodes], home_ids=graph.home_ids[nodes], group_ids=gnames[nodes],
                         pin=None if pinned is None else np.where(pinned[nodes], ocodes[nodes], -1), rules=rules,
                         workload=None if wl is None else wl.subset(nodes)))
    return out


def components(prob: UnitProblem) -> tuple[int, np.ndarray]:
    """Connected pieces of the unit under its adjacency: (count, label per home)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = prob.n
    mat = coo_matrix((np.ones(len(prob.edges)), (prob.edges[:, 0], prob.edges[:, 1])), shape=(n, n))
    return connected_components(mat, directed=False)
