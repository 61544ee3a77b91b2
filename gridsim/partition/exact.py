"""Exact search for small pieces: the fewest legal grids, or a proof that no legal plan exists.

The local search is a heuristic: when it ends with households outside the limits, or one grid above
the lower bound, it cannot say whether a better plan exists. For a piece of a few dozen homes (a
community of large buildings), an exhaustive search can. It branches on the grid of the most
constrained home left (fewest neighbours): every connected set of homes containing it that is within
the limits (enumerated once each, growing from the home and excluding each neighbour once decided),
largest first; what remains falls into connected pieces that are solved the same way, independently,
and remembered (one piece of homes has one answer wherever it comes from). Branch and bound on
``1 + Σ lower bounds of the rest``.

The work is counted in sets enumerated and tried, not seconds, so a result never depends on the machine; past
``budget`` the search gives up and says so (``None``), and the heuristic's plan stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .problem import UnitProblem

MAX_HOMES = 120  # pieces up to this many homes are searched exhaustively (the budget bounds the time)
BUDGET = 200_000  # connected sets enumerated and tried at most, per piece (about a second)


class _OutOfBudget(Exception):
    pass


@dataclass(frozen=True)
class ExactResult:
    """``grids``: the fewest legal grids (None: no legal plan exists); ``labels``: one such plan."""

    grids: int | None
    labels: np.ndarray | None
    enumerated: int


def _bits(mask: int):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def fewest_legal_grids(prob: UnitProblem, budget: int = BUDGET) -> ExactResult | None:
    """The exact minimum number of legal contiguous grids for ``prob`` (one connected piece), with a
    plan; ``grids=None`` when no legal plan exists; None when the search ran past ``budget``."""
    n, A, B = prob.n, int(prob.A), int(prob.B)
    a, b = [int(x) for x in prob.a], [int(x) for x in prob.b]
    nbr = [0] * n
    for v in range(n):
        for u in prob.adj[v]:
            nbr[v] |= 1 << u
    memo: dict[int, tuple[float, list[int]]] = {}
    count = [0]

    def total(mask: int, w: list[int]) -> int:
        return sum(w[v] for v in _bits(mask))

    def pieces(mask: int) -> list[int]:
        out = []
        while mask:
            seed = mask & -mask
            comp, frontier = seed, seed
            while frontier:
                count[0] += 1
                grow = 0
                for v in _bits(frontier):
                    grow |= nbr[v]
                frontier = grow & mask & ~comp
                comp |= frontier
            out.append(comp)
            mask &= ~comp
        return out

    def grids_containing(v: int, S: int) -> list[tuple[int, int, int]]:
        """Every connected set within ``S`` that holds ``v`` and is within the limits: (Σa, Σb, mask)."""
        found: list[tuple[int, int, int]] = []

        def extend(C: int, sa: int, sb: int, ext: list[int], seen: int) -> None:
            count[0] += 1
            if count[0] > budget:
                raise _OutOfBudget
            if sb >= B:
                found.append((sa, sb, C))
            ext = list(ext)
            while ext:
                w = ext.pop()
                if sa + a[w] > A:
                    continue
                new = nbr[w] & S & ~seen
                extend(C | (1 << w), sa + a[w], sb + b[w], ext + list(_bits(new)), seen | new)

        start = nbr[v] & S
        extend(1 << v, a[v], b[v], list(_bits(start)), start | (1 << v))
        found.sort(key=lambda t: (-t[0], t[2]))
        return found

    def fits(mask: int) -> bool:
        """Can the piece's floored count fill as many grids as its ceilinged count needs?"""
        sb = total(mask, b)
        return sb >= B and (B <= 0 or lower(mask) <= sb // B)

    def lower(mask: int) -> int:
        return max(1, math.ceil(total(mask, a) / A)) if A > 0 else 1

    def solve(S: int) -> tuple[float, list[int]]:
        if S in memo:
            return memo[S]
        aS, bS = total(S, a), total(S, b)
        if not fits(S):
            memo[S] = (math.inf, [])
            return memo[S]
        homes = list(_bits(S))
        v = min(homes, key=lambda x: (bin(nbr[x] & S).count("1"), x))
        best: tuple[float, list[int]] = (math.inf, [])
        floor = max(1, math.ceil(aS / A)) if A > 0 else 1
        for sa, sb, C in grids_containing(v, S):
            count[0] += 1  # a candidate grid costs about as much as an enumeration step
            if C != S and (bS - sb < B or 1 + math.ceil((aS - sa) / A) >= best[0]):
                continue  # the rest cannot reach the floor, or cannot beat the best found
            rest = pieces(S & ~C)
            if any(not fits(p) for p in rest):
                continue
            if 1 + sum(lower(p) for p in rest) >= best[0]:
                continue
            k, plan = 1, [C]
            for p in sorted(rest, key=lambda m: bin(m).count("1")):
                sub = solve(p)
                k += sub[0]
                plan += sub[1]
                if k >= best[0]:
                    break
            if k < best[0]:
                best = (k, plan)
                if k == floor:
                    break
        memo[S] = best
        return best

    try:
        k, plan = solve((1 << n) - 1)
    except (_OutOfBudget, RecursionError):
        return None
    if not math.isfinite(k):
        return ExactResult(None, None, count[0])
    labels = np.empty(n, dtype=np.int64)
    for g, mask in enumerate(plan):
        labels[list(_bits(mask))] = g
    return ExactResult(int(k), labels, count[0])
