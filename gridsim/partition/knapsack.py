"""Packing bounds shared by the bounds and the stranded-group proof: how many grids indivisible homes
need under a ceiling (bin packing), and the most of a floored count a set under the ceiling can hold
(knapsack). Kept apart so :mod:`.bounds` and :mod:`.stranded` both import it and not each other."""

from __future__ import annotations

import math

import numpy as np


def bin_packing_bound(sizes: np.ndarray, capacity: int) -> int:
    """Martello–Toth L2 lower bound on bins of ``capacity`` for indivisible ``sizes``.

    Items larger than the capacity each count as one (oversized) bin.
    """
    w = np.asarray(sizes, dtype=np.int64)
    w = w[w > 0]
    if len(w) == 0:
        return 0
    if capacity <= 0:
        return len(w)
    best = math.ceil(w.sum() / capacity)
    for alpha in np.unique(np.r_[0, w[w <= capacity / 2]]):
        j1 = w > capacity - alpha
        j2 = (w > capacity / 2) & ~j1
        j3 = (w >= alpha) & (w <= capacity / 2)
        spare = j2.sum() * capacity - w[j2].sum()
        extra = max(0, math.ceil((w[j3].sum() - spare) / capacity))
        best = max(best, int(j1.sum() + j2.sum() + extra))
    return best


def best_floor_count(a: np.ndarray, b: np.ndarray, capacity: int) -> int:
    """The most ``b`` any set of these homes can hold with ``Σa ≤ capacity`` (0/1 knapsack)."""
    best = np.zeros(capacity + 1, dtype=np.int64)
    for ai, bi in zip(np.asarray(a).tolist(), np.asarray(b).tolist()):
        if ai > capacity:
            continue
        if ai == 0:
            best += bi
            continue
        best[ai:] = np.maximum(best[ai:], best[:-ai] + bi)
    return int(best.max())
