"""A unit's own :class:`~gridsim.plan.Plan`: the adapter that keeps editor previews as fast as the unit.

:meth:`Plan.preview_move` checks the touched grids' rules, but its contiguity and within-unit checks
(``Plan.pieces``, ``Plan._mixed_grids``) run over the whole plan: about 40 ms per preview on the
embedded data (9,000 homes) and more than 60 ms once a 3,000-home unit is added. Grids never span
units, so the editor keeps, next to the whole plan, a Plan over the current unit's homes only (its
homes, the adjacency restricted to them, the same policy) and previews there; each move is applied to
both plans (a move itself is incremental and costs microseconds). Nothing here re-implements tallies
or rules: it only cuts the register and the graph down to one unit.
"""

from __future__ import annotations

import numpy as np

from ..graph import HomeGraph
from ..plan import Plan


def subgraph(graph: HomeGraph, positions: np.ndarray) -> HomeGraph:
    """The adjacency among the homes at ``positions`` (renumbered ``0..k-1`` in that order)."""
    positions = np.asarray(positions, dtype=np.int64)
    local = np.full(graph.n, -1, dtype=np.int64)
    local[positions] = np.arange(len(positions))
    e = graph.edges
    keep = (local[e[:, 0]] >= 0) & (local[e[:, 1]] >= 0)
    edges = np.sort(local[e[keep]], axis=1)
    codes, units = np.unique(graph.unit_codes[positions], return_inverse=True)  # only the units present
    return HomeGraph(graph.home_ids[positions], units.astype(np.int64).ravel(), graph.units[codes], edges,
                     graph.kind[keep], graph.crosses_road[keep], graph.weight[keep], graph.length[keep],
                     source=graph.source)


def unit_plan(plan: Plan, positions: np.ndarray) -> Plan:
    """A Plan over the homes at ``positions`` with their current grids, the same policy and the
    adjacency among them."""
    positions = np.asarray(positions, dtype=np.int64)
    homes = plan.homes.iloc[positions].reset_index(drop=True)
    assignment = plan.assignment.to_numpy(dtype=object)[positions]
    return Plan(homes, subgraph(plan.graph, positions), assignment, plan.policy)
