"""Repair from the editor: the optimizer's minimal-change mode run on one unit from its current state.

:func:`gridsim.partition.partition` with ``mode="repair"`` starts from a column of current grids and
moves as few households as possible to make every grid legal. The editor hands it the unit's homes
with the plan *as edited* as that column, so the repair starts where the planner is, not from
today's map.

Locks: a grid whose every home is fixed (a locked grid: it neither gains nor loses homes) is left out
of the repair and stays exactly as it is; the other fixed homes (locked homes) are handed to the
optimizer as pinned homes, so they keep their grid and its id while the rest of that grid, and of the
unit, is repaired around them. Grid ids the optimizer makes up are renamed if they clash with a grid
kept out or with another unit's grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..graph import HomeGraph
from ..plan import Plan

CURRENT_COLUMN = "editor_grid_id"


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


@dataclass(frozen=True)
class RepairOutput:
    """The whole plan's assignment after repairing one unit, and notes for the planner."""

    assignment: np.ndarray
    notes: list = field(default_factory=list)


def repair_unit(plan: Plan, unit_id: str, fixed_positions: np.ndarray, *, seed: int = 0,
                time_limit: float | None = None) -> RepairOutput:
    """Repair ``unit_id`` of ``plan`` with minimal change; the homes at ``fixed_positions`` (locked homes
    and the homes of locked grids) keep their grids. ``plan`` is not changed."""
    from ..partition import partition

    assignment = plan.assignment.to_numpy(dtype=object)
    unit_of = plan.homes["unit_id"].to_numpy(dtype=object)
    unit_pos = np.flatnonzero(unit_of == unit_id)
    fixed = np.zeros(len(assignment), dtype=bool)
    fixed[np.asarray(fixed_positions, dtype=np.int64)] = True
    grids = assignment[unit_pos]
    kept_grids = {g for g in pd.unique(grids) if fixed[unit_pos[grids == g]].all()}
    free = unit_pos[~np.isin(grids, list(kept_grids))]
    notes = []
    if kept_grids:
        notes.append(f"锁定的网格保持不变 (locked grids kept as they are): {', '.join(sorted(map(str, kept_grids)))}")
    if fixed[free].any():
        notes.append(f"{int(fixed[free].sum())} 处锁定住户留在原网格 (locked homes stay in their grids)")
    if len(free) == 0:
        notes.append("没有可修复的网格 (nothing left to repair)")
        return RepairOutput(assignment.copy(), notes)
    homes = plan.homes.iloc[free].reset_index(drop=True).copy()
    homes[CURRENT_COLUMN] = assignment[free]
    result = partition(homes, subgraph(plan.graph, free), policy=plan.policy, mode="repair",
                       current=CURRENT_COLUMN, seed=seed, time_limit=time_limit,
                       pinned=fixed[free] if fixed[free].any() else None)
    new = result.plan.assignment.to_numpy(dtype=object)
    outside = set(assignment[np.setdiff1d(np.arange(len(assignment)), free)]) - {None}
    rename, taken = {}, outside | set(new)
    for gid in sorted(set(new) & outside):
        k = 1
        while f"{unit_id}-g{k:02d}" in taken:
            k += 1
        rename[gid] = f"{unit_id}-g{k:02d}"
        taken.add(rename[gid])
    out = assignment.copy()
    out[free] = [rename.get(g, g) for g in new]
    notes += [d.message for d in result.diagnoses]
    return RepairOutput(out, notes)
