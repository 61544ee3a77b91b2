"""Adjacency of homes: which homes may share a grid boundary, built once per register.

A grid must be contiguous (连片), so the optimizer, the editor and the rule checks need to know which
homes are neighbours. Two sources:

* :func:`build_graph` — built in, per unit (村/社区), never across units:

  1. Delaunay triangulation of the unit's homes (``scipy.spatial.Delaunay``);
  2. trimmed by length relative to local spacing: an edge ``(i, j)`` of length ``L`` is kept when
     ``L <= trim * max(s_i, s_j)``, where ``s_i`` is the mean distance from home ``i`` to its
     ``k_spacing`` nearest homes. Inside a hamlet (村民组) or compound (小区) homes are a few tens of
     metres apart and stay linked; the long triangles across open fields between hamlets are dropped;
  3. bridged: what remains falls into clusters (hamlets, compounds). Two clusters that are Delaunay
     neighbours are linked through their *closest* pair of homes when that gap is at most
     ``link_ratio`` times the shortest gap one of the two has to any other cluster (so a hamlet is
     linked to the hamlets around it, not to one behind them); and the edges of the unit's minimum
     spanning tree (by length) are always added back, so the unit stays one connected piece. These
     edges are flagged ``link``. A link longer than ``max_link`` metres (if given) is not added, which
     leaves genuinely remote homes as islands for the optimizer to diagnose;
  4. barriers (the ``barriers`` layer, lines with ``kind`` = ``river`` | ``road``): an edge that crosses
     a river is removed outright — a grid may not straddle the 史河 — and is never used as a link. An
     edge that crosses a trunk road is kept (compounds on both sides of a road may still form one grid,
     as they often do today) but flagged ``crosses_road``; the optimizer keeps such edges out of its
     spanning trees where it can, so boundaries tend to follow roads. (Discounting road edges in the
     compactness objective itself was tried and made grids measurably less compact, so it is not done.)

  5. homes at one position: a register geocoded to the building or door plate puts several homes
     (every flat entry of a building) on one point. Homes closer than ``same_site`` metres
     (``SAME_SITE_M`` = 0.5 m; chains of such pairs count as one position) are collapsed into one
     *site* at their mean position before steps 1-4, and expanded after: the homes of a site are all
     neighbours of each other (kind ``same_site``, weight 1, length their true distance, usually 0)
     and each is a neighbour of every home of each neighbouring site, with the kind of the site edge.
     Those edges weigh ``1 / (size_a * size_b)``, so cutting between two positions costs 1 however
     many homes stand there, as it does between two single homes. Without this, duplicate points
     fall out of the triangulation and the optimizer reports them as islands.

* :func:`graph_from_edges` — an edge list CSV ``home_a,home_b`` supplied by the user (e.g. from a
  parcel map). It replaces the built-in adjacency entirely; barriers are not applied. Unknown ids,
  self-loops and missing values are an :class:`~gridsim.errors.InputError` naming the row. Edges
  between homes of different units are dropped (a grid never spans units) and counted in
  ``graph.dropped_cross_unit``.

Both return a :class:`HomeGraph`, indexed by home *position* (row ``i`` of the homes frame, as given):
a symmetric ``scipy.sparse`` CSR matrix for fast neighbour lookups, the edge list with kinds and
weights, and :meth:`HomeGraph.to_networkx` where networkx is convenient.

Edge weights are the cost of cutting an edge (a boundary between grids running through it). Built-in
edges weigh 1 (except between stacked homes, step 5), so compactness is the number of cut edges; an edge list may carry its own positive
``weight`` column (e.g. shared wall length). Compactness objectives minimise the total weight cut.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import Delaunay, QhullError, cKDTree

from .errors import InputError, Problem

KIND_NEAR, KIND_LINK, KIND_GIVEN, KIND_SAME = 0, 1, 2, 3
KIND_NAMES = {KIND_NEAR: "near", KIND_LINK: "link", KIND_GIVEN: "given", KIND_SAME: "same_site"}
SAME_SITE_M = 0.5  # homes closer than this (metres) share one position: one building or door plate


@dataclass(eq=False)
class HomeGraph:
    """Undirected adjacency of homes, indexed by position ``0..n-1`` in the homes frame.

    Attributes
    ----------
    home_ids : array of str, length n — ``homes["home_id"]`` in order.
    unit_codes : int array, length n — unit of each home as a code into ``units``.
    units : array of str — unit ids.
    edges : int array (m, 2) with ``edges[:, 0] < edges[:, 1]``, each undirected edge once.
    kind : int array (m,) — ``KIND_NEAR`` | ``KIND_LINK`` | ``KIND_GIVEN`` | ``KIND_SAME``.
    crosses_road : bool array (m,).
    weight : float array (m,) — cost of cutting the edge.
    length : float array (m,) — metres (NaN for given edges without coordinates).
    csr : ``scipy.sparse.csr_matrix`` (n, n), symmetric, data = weight.
    """

    home_ids: np.ndarray
    unit_codes: np.ndarray
    units: np.ndarray
    edges: np.ndarray
    kind: np.ndarray
    crosses_road: np.ndarray
    weight: np.ndarray
    length: np.ndarray
    dropped_cross_unit: int = 0
    source: str = "built-in"
    csr: sp.csr_matrix = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.home_ids)
        i, j = self.edges[:, 0], self.edges[:, 1]
        mat = sp.coo_matrix((np.r_[self.weight, self.weight], (np.r_[i, j], np.r_[j, i])), shape=(n, n))
        self.csr = mat.tocsr()
        self.csr.sort_indices()

    @property
    def n(self) -> int:
        """Number of homes (nodes)."""
        return len(self.home_ids)

    @property
    def m(self) -> int:
        """Number of undirected edges."""
        return len(self.edges)

    def neighbors(self, i: int) -> np.ndarray:
        """Positions of the homes adjacent to home position ``i``."""
        return self.csr.indices[self.csr.indptr[i]:self.csr.indptr[i + 1]]

    def degree(self) -> np.ndarray:
        return np.diff(self.csr.indptr)

    def components(self) -> tuple[int, np.ndarray]:
        """Connected components: ``(count, label per home)``."""
        return connected_components(self.csr, directed=False)

    def edge_frame(self) -> pd.DataFrame:
        """The edges as a table: home_a, home_b (ids), kind, crosses_road, weight, length_m."""
        return pd.DataFrame({
            "home_a": self.home_ids[self.edges[:, 0]], "home_b": self.home_ids[self.edges[:, 1]],
            "kind": [KIND_NAMES[k] for k in self.kind], "crosses_road": self.crosses_road,
            "weight": self.weight, "length_m": self.length,
        })

    def to_networkx(self):
        """A ``networkx.Graph`` with nodes ``0..n-1`` (attribute ``home_id``) and edge attributes."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from((i, {"home_id": h}) for i, h in enumerate(self.home_ids))
        for e in range(self.m):
            g.add_edge(int(self.edges[e, 0]), int(self.edges[e, 1]), weight=float(self.weight[e]),
                       kind=KIND_NAMES[int(self.kind[e])], crosses_road=bool(self.crosses_road[e]))
        return g


def _unit_codes(homes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    codes, units = pd.factorize(homes["unit_id"], sort=True)
    return codes.astype(np.int64), np.asarray(units, dtype=object)


def _delaunay_edges(xy: np.ndarray) -> np.ndarray:
    """Unique Delaunay edges (local indices, i < j); tiny or degenerate sets are linked directly."""
    n = len(xy)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    if n <= 3:
        return np.array([(a, b) for a in range(n) for b in range(a + 1, n)], dtype=np.int64)
    try:
        tri = Delaunay(xy)
    except QhullError:  # all homes on one line, or repeated points: joggle
        tri = Delaunay(xy, qhull_options="QJ")
    s = tri.simplices
    e = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
    e.sort(axis=1)
    return np.unique(e, axis=0).astype(np.int64)


def _crossing(xy: np.ndarray, edges: np.ndarray, barrier) -> np.ndarray:
    """Which segments ``xy[a]``-``xy[b]`` intersect the (multi)line ``barrier``."""
    if barrier is None or len(edges) == 0:
        return np.zeros(len(edges), dtype=bool)
    import shapely

    segs = shapely.linestrings(np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], axis=1))
    shapely.prepare(barrier)
    return shapely.intersects(barrier, segs)


def _barrier_lines(barriers) -> tuple[object, object]:
    """Union of river lines and of road lines from a barriers layer (either may be None)."""
    if barriers is None or len(barriers) == 0:
        return None, None
    import shapely

    if "kind" not in barriers.columns:
        raise InputError("barriers", [Problem("barriers", None, "kind", None,
                                              "障碍图层缺少 kind 列 (barriers need a 'kind' column: river | road)")])
    kinds = barriers["kind"].astype(str).str.lower()
    bad = ~kinds.isin(["river", "road"])
    if bad.any():
        raise InputError("barriers", [Problem("barriers", int(p) + 1, "kind", barriers["kind"].iat[p],
                                              "障碍类型应为 river 或 road (kind must be river or road)")
                                      for p in np.flatnonzero(bad.to_numpy())])
    geom = barriers.geometry
    river = shapely.union_all(geom[kinds.eq("river").to_numpy()].to_numpy()) if kinds.eq("river").any() else None
    road = shapely.union_all(geom[kinds.eq("road").to_numpy()].to_numpy()) if kinds.eq("road").any() else None
    return river, road


def _cluster_links(n: int, e: np.ndarray, length: np.ndarray, near: np.ndarray, ratio: float) -> np.ndarray:
    """Shortest Delaunay edge between each pair of neighbouring clusters, if not much longer than
    the shortest link of one of the two clusters to any cluster."""
    _, cl = connected_components(sp.coo_matrix((np.ones(near.sum()), (e[near, 0], e[near, 1])), shape=(n, n)),
                                 directed=False)
    ca, cb = cl[e[:, 0]], cl[e[:, 1]]
    between = np.flatnonzero(ca != cb)
    out = np.zeros(len(e), dtype=bool)
    if len(between) == 0:
        return out
    lo, hi = np.minimum(ca[between], cb[between]), np.maximum(ca[between], cb[between])
    order = np.lexsort((length[between], hi, lo))
    lo, hi, cand = lo[order], hi[order], between[order]
    first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
    lo, hi, cand = lo[first], hi[first], cand[first]  # shortest edge per cluster pair
    shortest = np.full(cl.max() + 1, np.inf)
    np.minimum.at(shortest, lo, length[cand])
    np.minimum.at(shortest, hi, length[cand])
    ok = length[cand] <= ratio * np.maximum(shortest[lo], shortest[hi]) + 1e-9
    out[cand[ok]] = True
    return out


def _sites(xy: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Homes at one position: ``(site per home, site coordinates)``.

    Homes within ``tol`` metres of each other are one site (chains of such pairs too); a site sits at
    the mean of its homes. ``tol <= 0`` still merges exactly equal coordinates.
    """
    n = len(xy)
    pairs = cKDTree(xy).query_pairs(max(tol, 0.0), output_type="ndarray")
    if len(pairs) == 0:
        return np.arange(n), xy
    _, site = connected_components(sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)),
                                   directed=False)
    size = np.bincount(site)
    site_xy = np.column_stack([np.bincount(site, weights=xy[:, 0]), np.bincount(site, weights=xy[:, 1])]) / size[:, None]
    return site, site_xy


def _site_edges(xy: np.ndarray, river, trim: float, k_spacing: int, link_ratio: float,
                max_link: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-4 of the module docstring on distinct positions: ``(edges i < j, kind)``."""
    e = _delaunay_edges(xy)
    if len(e) == 0:
        return e, np.empty(0, dtype=np.int64)
    length = np.hypot(*(xy[e[:, 0]] - xy[e[:, 1]]).T)
    if river is not None:
        keep = ~_crossing(xy, e, river)
        e, length = e[keep], length[keep]
    n = len(xy)
    k = min(k_spacing, n - 1)
    dist, _ = cKDTree(xy).query(xy, k=k + 1)
    spacing = dist[:, 1:].mean(axis=1)
    near = length <= trim * np.maximum(spacing[e[:, 0]], spacing[e[:, 1]])
    # bridge clusters along the shortest Delaunay links (zero lengths are nudged so scipy keeps them)
    w = sp.coo_matrix((np.maximum(length, 1e-6), (e[:, 0], e[:, 1])), shape=(n, n))
    mst = minimum_spanning_tree(w).tocoo()
    mst_e = np.sort(np.column_stack([mst.row, mst.col]), axis=1)
    if max_link is not None:
        mst_e = mst_e[mst.data <= max_link]
    in_mst = np.zeros(len(e), dtype=bool)
    if len(mst_e):
        key = e[:, 0] * n + e[:, 1]
        in_mst = np.isin(key, mst_e[:, 0] * n + mst_e[:, 1])
    keep = near | in_mst | _cluster_links(n, e, length, near, link_ratio)
    if max_link is not None:
        keep &= near | (length <= max_link)
    return e[keep], np.where(near[keep], KIND_NEAR, KIND_LINK)


def _expand_sites(site: np.ndarray, se: np.ndarray, skind: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Site edges back to home edges: every home of a site with every home of each neighbouring site
    (same kind, weight ``1 / (size_a * size_b)``), and the homes of one site with each other
    (``KIND_SAME``, weight 1). Returns ``(edges, kind, weight)`` in local home indices."""
    order = np.argsort(site, kind="stable")
    size = np.bincount(site)
    start = np.r_[0, np.cumsum(size)[:-1]]
    a, b = se[:, 0], se[:, 1]
    count = size[a] * size[b]
    rep = np.repeat(np.arange(len(se)), count)
    t = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    i = order[start[a[rep]] + t // size[b[rep]]]
    j = order[start[b[rep]] + t % size[b[rep]]]
    parts_e = [np.column_stack([i, j])]
    parts_k = [skind[rep]]
    parts_w = [1.0 / count[rep]]
    for s in np.flatnonzero(size > 1).tolist():
        members = order[start[s]:start[s] + size[s]]
        u, v = np.triu_indices(size[s], 1)
        parts_e.append(np.column_stack([members[u], members[v]]))
        parts_k.append(np.full(len(u), KIND_SAME))
        parts_w.append(np.ones(len(u)))
    e = np.sort(np.vstack(parts_e), axis=1).astype(np.int64)
    return e, np.concatenate(parts_k), np.concatenate(parts_w)


def build_graph(homes: pd.DataFrame, barriers=None, *, trim: float = 2.5, k_spacing: int = 3,
                link_ratio: float = 1.5, max_link: float | None = None, same_site: float = SAME_SITE_M) -> HomeGraph:
    """Built-in adjacency of ``homes`` (a frame from :func:`gridsim.registers.read_homes`).

    ``barriers``: optional GeoDataFrame of lines with ``kind`` river|road (e.g. ``read_layer("barriers")``),
    in the same CRS as the homes' ``x``/``y``. ``trim``: keep a Delaunay edge when its length is at most
    ``trim`` times the larger local spacing of its ends. ``k_spacing``: neighbours used for local
    spacing. ``link_ratio``: how much longer than a cluster's shortest link another link to a
    neighbouring cluster may be. ``max_link``: longest link in metres (None: no limit). ``same_site``:
    homes closer than this many metres share one position (see "Homes at one position" in the module
    docstring). See the module docstring.
    """
    codes, units = _unit_codes(homes)
    xy_all = homes[["x", "y"]].to_numpy(dtype=float)
    river, road = _barrier_lines(barriers)
    parts_e, parts_k, parts_w = [], [], []
    for u in range(len(units)):
        idx = np.flatnonzero(codes == u)
        site, site_xy = _sites(xy_all[idx], same_site)
        se, skind = _site_edges(site_xy, river, trim, k_spacing, link_ratio, max_link)
        if len(site_xy) == len(idx):  # every home at its own position (site i is home i)
            e, k, w = se, skind, np.ones(len(se))
        else:
            e, k, w = _expand_sites(site, se, skind)
        if len(e) == 0:
            continue
        parts_e.append(idx[e])
        parts_k.append(k)
        parts_w.append(w)
    edges = np.vstack(parts_e) if parts_e else np.empty((0, 2), dtype=np.int64)
    kind = np.concatenate(parts_k) if parts_k else np.empty(0, dtype=np.int64)
    weight = np.concatenate(parts_w) if parts_w else np.empty(0)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, kind, weight = edges[order], kind[order], weight[order]
    length = np.hypot(*(xy_all[edges[:, 0]] - xy_all[edges[:, 1]]).T)
    on_road = _crossing(xy_all, edges, road)
    return HomeGraph(np.asarray(homes["home_id"], dtype=object), codes, units, edges, kind.astype(np.int8),
                     on_road, weight, length)


def graph_from_edges(homes: pd.DataFrame, edges: str | Path | pd.DataFrame) -> HomeGraph:
    """Adjacency from an edge list ``home_a,home_b[,weight]`` (a CSV path or a DataFrame), validated.

    Every problem (missing column, empty value, unknown home id, a home linked to itself, a weight that
    is not a positive number) is reported
    in one :class:`InputError` naming the file and the 1-based data row. Duplicate edges are merged;
    edges across units are dropped and counted in ``dropped_cross_unit``.
    """
    source = str(edges) if not isinstance(edges, pd.DataFrame) else "edges"
    if isinstance(edges, pd.DataFrame):
        df = edges.astype(str)
    else:
        path = Path(edges)
        if not path.exists():
            raise InputError(source, [Problem(source, None, None, None, "文件不存在 (file not found)")])
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        except Exception as exc:  # unreadable CSV becomes one readable problem
            raise InputError(source, [Problem(source, None, None, None,
                                              f"无法读取文件 (cannot read file): {type(exc).__name__}: {exc}")]) from None
    df.columns = [str(c).strip() for c in df.columns]
    problems = [Problem(source, None, c, None, "缺少必需列 (missing required column)")
                for c in ("home_a", "home_b") if c not in df.columns]
    if problems:
        raise InputError(source, problems, headline="邻接边表校验失败 (edge list is invalid)")
    pos = pd.Series(np.arange(len(homes)), index=pd.Index(homes["home_id"]))
    a = df["home_a"].astype("string").str.strip()
    b = df["home_b"].astype("string").str.strip()
    for col, s in (("home_a", a), ("home_b", b)):
        for r in np.flatnonzero((s.isna() | s.eq("")).to_numpy()):
            problems.append(Problem(source, int(r) + 1, col, None, "缺少值 (missing value)"))
        unknown = s.notna() & s.ne("") & ~s.isin(pos.index)
        for r in np.flatnonzero(unknown.to_numpy()):
            problems.append(Problem(source, int(r) + 1, col, s.iat[r],
                                    "登记册中没有这个住户 (home id not in the register)"))
    for r in np.flatnonzero((a.notna() & a.eq(b)).fillna(False).to_numpy()):
        problems.append(Problem(source, int(r) + 1, "home_b", b.iat[r], "住户不能与自身相邻 (a home linked to itself)"))
    if "weight" in df.columns:
        w = pd.to_numeric(df["weight"], errors="coerce")
        for r in np.flatnonzero((w.isna() | ~(w > 0)).to_numpy()):
            problems.append(Problem(source, int(r) + 1, "weight", df["weight"].iat[r],
                                    "权重须为正数 (weight must be a positive number)"))
    else:
        w = pd.Series(np.ones(len(df)))
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.field or ""))
        raise InputError(source, problems, headline="邻接边表校验失败 (edge list is invalid)")
    i = pos.reindex(a.to_numpy()).to_numpy()
    j = pos.reindex(b.to_numpy()).to_numpy()
    e = pd.DataFrame({"i": np.minimum(i, j).astype(np.int64), "j": np.maximum(i, j).astype(np.int64),
                      "w": w.to_numpy(dtype=float)})
    e = e.drop_duplicates(["i", "j"], keep="first").sort_values(["i", "j"], kind="stable")
    codes, units = _unit_codes(homes)
    same = (codes[e["i"].to_numpy()] == codes[e["j"].to_numpy()])
    dropped = int((~same).sum())
    e = e[same]
    pairs = e[["i", "j"]].to_numpy(np.int64).reshape(-1, 2)
    if {"x", "y"} <= set(homes.columns):
        xy = homes[["x", "y"]].to_numpy(dtype=float)
        length = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    else:
        length = np.full(len(pairs), np.nan)
    return HomeGraph(np.asarray(homes["home_id"], dtype=object), codes, units, pairs,
                     np.full(len(pairs), KIND_GIVEN, dtype=np.int8), np.zeros(len(pairs), dtype=bool),
                     e["w"].to_numpy(dtype=float), length, dropped_cross_unit=dropped, source=source)


def separates(adj, labels, v: int) -> bool:
    """Would taking home ``v`` out of its grid split what is left of that grid's piece around it?

    ``adj``: neighbour lists per home; ``labels``: grid per home (any indexable). The plan and the local
    search ask this before every single-home move, so it is a breadth-first search from one same-grid
    neighbour of ``v`` that stops as soon as it has met all the others (usually after a few steps).
    """
    g = labels[v]
    nbrs = [u for u in adj[v] if labels[u] == g]
    if len(nbrs) <= 1:
        return False
    targets = set(nbrs[1:])
    seen = {v, nbrs[0]}
    queue = deque([nbrs[0]])
    pop, push, add = queue.popleft, queue.append, seen.add
    while queue:
        for u in adj[pop()]:
            if u not in seen and labels[u] == g:
                if u in targets:
                    targets.discard(u)
                    if not targets:
                        return False
                add(u)
                push(u)
    return True
