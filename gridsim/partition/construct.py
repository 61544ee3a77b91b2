"""Construction: cut a connected piece into ``k`` contiguous grids by peeling subtrees off a spanning tree.

Any subtree of a spanning tree is connected, and so is what remains of the tree after removing it; so
peeling ``k − 1`` subtrees off one tree gives ``k`` contiguous grids (the idea behind GerryChain's
``recursive_tree_part``, here with a ceiling and a floor instead of a population tolerance). Each peel
takes the subtree that keeps both the grid and the rest within the limits in aggregate — the rest must
still fit ``k_left − 1`` grids: Σa ≤ (k_left−1)·A and Σb ≥ (k_left−1)·B — and among those the one
closest to an even share, which leaves the most slack for the remaining cuts.

Trees are minimum spanning trees over edge costs that make short, same-group, same-side-of-the-road
edges cheap (so the tree, and hence the cuts, follow 村民组/小区 and roads), jittered by the random
generator so that repeated tries explore different trees. Subtree sums for all nodes at once come from
prefix sums over the DFS preorder, so one peel costs O(n) in numpy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import depth_first_order, minimum_spanning_tree

SMALL_GRAPH_EDGES = 600
SMALL_TREE = 400  # nodes up to which a Python traversal beats scipy's set-up cost


def preorder(n: int, tree_edges: np.ndarray, root: int):
    """DFS preorder, parent, subtree size and preorder position of each node of a spanning tree."""
    if n > SMALL_TREE:  # scipy's traversal, once its set-up cost is worth paying
        mat = sp.coo_matrix((np.ones(len(tree_edges)), (tree_edges[:, 0], tree_edges[:, 1])), shape=(n, n)).tocsr()
        order, parent = depth_first_order(mat, root, directed=False, return_predecessors=True)
        order, parent = order.astype(np.int64), np.where(parent < 0, -1, parent).astype(np.int64)
        par = parent.tolist()
    else:
        adj = [[] for _ in range(n)]
        for i, j in tree_edges.tolist():
            adj[i].append(j)
            adj[j].append(i)
        par = [-1] * n
        seen = [False] * n
        seen[root] = True
        stack, out = [root], []
        while stack:
            v = stack.pop()
            out.append(v)
            for u in adj[v]:
                if not seen[u]:
                    seen[u] = True
                    par[u] = v
                    stack.append(u)
        order, parent = np.asarray(out, dtype=np.int64), np.asarray(par, dtype=np.int64)
    sz = [1] * n
    for v in order[::-1].tolist():
        if par[v] >= 0:
            sz[par[v]] += sz[v]
    tin = np.empty(n, dtype=np.int64)
    tin[order] = np.arange(n)
    return order, parent, np.asarray(sz, dtype=np.int64), tin


def spanning_tree(n: int, edges: np.ndarray, cost: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Edges (t, 2) of a minimum spanning tree (forest) under ``cost`` times a random factor."""
    if n <= 1 or len(edges) == 0:
        return np.empty((0, 2), dtype=np.int64)
    w = cost * (1.0 + jitter * rng.random(len(edges))) + 1e-9
    if len(edges) <= SMALL_GRAPH_EDGES:  # Kruskal in Python beats scipy's setup cost on small graphs
        parent = list(range(n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        out = []
        for i in np.argsort(w, kind="stable").tolist():
            a, b = find(int(edges[i, 0])), find(int(edges[i, 1]))
            if a != b:
                parent[a] = b
                out.append(i)
                if len(out) == n - 1:
                    break
        return edges[np.asarray(out, dtype=np.int64)].reshape(-1, 2)
    mst = minimum_spanning_tree(sp.coo_matrix((w, (edges[:, 0], edges[:, 1])), shape=(n, n))).tocoo()
    return np.column_stack([mst.row, mst.col]).astype(np.int64)


def peel(n: int, tree_edges: np.ndarray, a: np.ndarray, b: np.ndarray, A: int, B: int, k: int,
         rng: np.random.Generator, group: np.ndarray | None = None, spread: float = 0.02,
         pinned: np.ndarray | None = None) -> np.ndarray:
    """Labels ``0..k-1`` for the ``n`` nodes of a connected piece, cutting ``k − 1`` subtrees off the tree.

    ``group`` (optional, code per node, -1 for none): cuts between different groups are preferred when
    otherwise about equal, so 村民组/小区 tend to stay whole. ``spread``: random noise added to the
    balance score (0.02: nearly always the most even cut; ~1: nearly any cut within the limits). When no cut keeps everything within
    the limits, the cut with the smallest aggregate excess is taken (the local search repairs it).
    ``pinned`` (optional, 1 for a node holding pinned homes of one of today's grids, each such grid one
    node): two pinned nodes never end in one grid — a cut that would leave two in a grid, or more in the
    rest than grids left, is outweighed by any excess of households; ``k`` must be at least their number.
    """
    labels = np.full(n, k - 1, dtype=np.int64)
    if k <= 1 or n <= 1:
        return np.zeros(n, dtype=np.int64)
    root = int(rng.integers(n))
    order, parent, size, tin = preorder(n, tree_edges, root)
    alive = np.ones(n, dtype=bool)
    a_pre, b_pre = a[order].astype(np.float64), b[order].astype(np.float64)
    p_pre = (np.zeros(n) if pinned is None else np.asarray(pinned, dtype=np.float64))[order]
    clash = float(a.sum() + b.sum() + A + B)  # more than any excess of households
    lo, hi = tin, tin + size
    bonus = np.zeros(n)
    if group is not None:
        pg = np.where(parent >= 0, group[np.maximum(parent, 0)], -2)
        bonus = 0.08 * ((group != pg) & (group >= 0)).astype(float)
    for j in range(k - 1):
        left = k - j
        alive_pre = alive[order]
        ca = np.r_[0.0, np.cumsum(a_pre * alive_pre)]
        cb = np.r_[0.0, np.cumsum(b_pre * alive_pre)]
        pa, pb = ca[hi] - ca[lo], cb[hi] - cb[lo]
        ta, tb = pa[root], pb[root]
        ra, rb = ta - pa, tb - pb
        pen = (np.maximum(0, pa - A) + np.maximum(0, B - pb)
               + np.maximum(0, ra - (left - 1) * A) + np.maximum(0, (left - 1) * B - rb))
        if pinned is not None:
            cp = np.r_[0.0, np.cumsum(p_pre * alive_pre)]
            pp = cp[hi] - cp[lo]
            pen = pen + clash * (np.maximum(0, pp - 1) + np.maximum(0, cp[-1] - pp - (left - 1)))
        ok = alive.copy()
        ok[root] = False
        if not ok.any():
            break
        pen = np.where(ok, pen, np.inf)
        best = pen.min()
        cand = np.flatnonzero(pen <= best + 1e-9)
        share_a, share_b = ta / left, tb / left
        score = (np.abs(pa[cand] - share_a) / max(A, 1) + np.abs(pb[cand] - share_b) / max(B, 1)
                 - bonus[cand] + spread * rng.random(len(cand)))
        v = int(cand[np.argmin(score)])
        sub = order[tin[v]:tin[v] + size[v]]
        sub = sub[alive[sub]]
        labels[sub] = j
        alive[sub] = False
    return labels
