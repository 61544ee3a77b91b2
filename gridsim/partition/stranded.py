"""Proof that a small low-occupancy 村民组/小区 cannot be covered by legal grids, however they are drawn.

When no set of a group's own homes can be a legal grid (under the ceiling its floored count never
reaches the floor), every grid that holds some of its homes must reach outside the group and be topped
up there. This module checks every way of sharing the group's homes out among such grids:

1. *Pockets.* A group whose only way out is one home ``h`` (its other homes touch nothing outside the
   group), and whose other homes cannot reach the floor on their own, lies wholly in ``h``'s grid. A
   home of the low-occupancy group next to such a pocket can only join it when both fit under the
   ceiling together; otherwise that way out is closed.
2. *Shares.* Every set partition of the group's homes (groups of at most ``MAX_HOMES`` homes) into
   parts, one per grid, is checked: each part stays under the ceiling, each of its pieces inside the
   group has an open way out, and the homes outside the group that the grid could add — those reachable
   from the part through outside homes whose ceilinged counts together still fit under the ceiling —
   can bring the floored count up to the floor (a 0/1 knapsack, ignoring that grids compete for them).

Each check only relaxes the rules, so when no partition passes, no legal plan exists: the unit is
infeasible whatever the number of grids. (The synthetic 万佛社区 is such a case; see ``data/README.md``.)
"""

from __future__ import annotations

import heapq

import numpy as np

from .knapsack import best_floor_count
from .problem import UnitProblem

MAX_HOMES = 8  # set partitions of 8 homes: 4,140 (Bell number); larger groups are not checked


def _partitions(items: list[int]):
    """Every set partition of ``items`` (lists of blocks)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]
        yield [[first]] + part


def _pockets(prob: UnitProblem) -> dict[int, np.ndarray]:
    """Home -> the homes that must share its grid, for homes of groups with a single way out."""
    g, adj = prob.group, prob.adj
    forced: dict[int, np.ndarray] = {}
    for code in np.unique(g[g >= 0]):
        idx = np.flatnonzero(g == code)
        gates = [v for v in idx.tolist() if any(g[u] != code for u in adj[v])]
        if len(gates) != 1:
            continue
        rest = idx[idx != gates[0]]
        if best_floor_count(prob.a[rest], prob.b[rest], prob.A) < prob.B:
            for v in idx.tolist():
                forced[v] = idx
    return forced


def stranded_groups(prob: UnitProblem) -> list[tuple[int, list[int]]]:
    """Low-occupancy groups (``group code``, open ways out) that no set of legal grids can cover."""
    g, adj, a, b, A, B = prob.group, prob.adj, prob.a, prob.b, prob.A, prob.B
    if (g < 0).all() or B <= 0:
        return []
    forced = None
    out = []
    for code in np.unique(g[g >= 0]):
        idx = np.flatnonzero(g == code)
        if len(idx) > MAX_HOMES or best_floor_count(a[idx], b[idx], A) >= B:
            continue
        forced = _pockets(prob) if forced is None else forced
        inside = set(idx.tolist())

        def exits(v: int) -> list[int]:
            """Outside neighbours of ``v`` its grid could take (a pocket must fit whole beside it)."""
            return [u for u in adj[v] if u not in inside
                    and not (u in forced and a[forced[u]].sum() + a[v] > A)]

        doors = {v: exits(v) for v in idx.tolist()}

        def part_ok(part: tuple[int, ...]) -> bool:
            pa, pb = int(a[list(part)].sum()), int(b[list(part)].sum())
            if pa > A:
                return False
            members = set(part)
            seen: set[int] = set()
            for start in part:  # every piece of the part inside the group needs a way out
                if start in seen:
                    continue
                piece, stack = {start}, [start]
                while stack:
                    x = stack.pop()
                    for u in adj[x]:
                        if u in members and u not in piece:
                            piece.add(u)
                            stack.append(u)
                seen |= piece
                if not any(doors[x] for x in piece):
                    return False
            budget = A - pa
            reach: dict[int, int] = {}
            heap = [(int(a[u]), u) for x in part for u in doors[x] if a[u] <= budget]
            heapq.heapify(heap)
            while heap:
                d, x = heapq.heappop(heap)
                if x in reach:
                    continue
                reach[x] = d
                for u in adj[x]:
                    if u not in inside and u not in reach and d + a[u] <= budget:
                        heapq.heappush(heap, (d + int(a[u]), u))
            near = list(reach)
            return pb + (best_floor_count(a[near], b[near], budget) if near else 0) >= B

        cache: dict[tuple[int, ...], bool] = {}

        def ok(part: list[int]) -> bool:
            key = tuple(sorted(part))
            if key not in cache:
                cache[key] = part_ok(key)
            return cache[key]

        possible = any(all(ok(p) for p in share) for share in _partitions(idx.tolist()))
        if not possible:
            out.append((int(code), sorted(v for v in idx.tolist() if doors[v])))
    return out
