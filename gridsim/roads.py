"""Distances along a user's road network, for the walking part of a grid worker's hours (issue: workload).

Without a road file, walking is the straight-line tour × the assumed circuity ``workload.circuity`` (Boeing
2019: street networks are mostly 1.1–1.4 times the straight line). With one, each grid gets its *measured*
circuity: the network distance between its homes over their straight-line distance, summed over pairs of
a deterministic sample of the grid's positions. A worker whose hamlets face each other across a river with
the only bridge a kilometre away then walks what the roads make him walk, not 1.3 times the crow's line.

The network: the file's lines are noded where they cross (``shapely.union_all``), every vertex is a node
and every segment an edge weighted by its length. A home reaches the network at its nearest node (the
access walk, straight, counts at both ends). Two homes whose nodes the network does not join keep the
straight line × the assumed circuity (the file is incomplete there, not the world).

Bad input: a file without lines, or whose lines lie nowhere near the homes (a file of another area or
CRS), is an :class:`~gridsim.errors.InputError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from .errors import InputError, Problem

SAMPLE_POINTS = 40  # positions per grid whose pairwise network distances measure its circuity
NEAR_M = 2000.0  # a road file must come within this many metres of the homes' extent
NODE_DECIMALS = 2  # vertices closer than a centimetre are one node


class RoadNetwork:
    """A road network built from line geometries in the homes' projected CRS (metres)."""

    def __init__(self, lines) -> None:
        parts = shapely.get_parts(shapely.union_all(np.asarray(lines, dtype=object)))  # noded where lines cross
        starts, ends = [], []
        for part in parts:
            xy = shapely.get_coordinates(part)
            if len(xy) >= 2:
                starts.append(xy[:-1])
                ends.append(xy[1:])
        if not starts:
            raise ValueError("no line segments")
        a, b = np.vstack(starts), np.vstack(ends)
        nodes, inverse = np.unique(np.round(np.vstack([a, b]), NODE_DECIMALS), axis=0, return_inverse=True)
        ia, ib = inverse[:len(a)], inverse[len(a):]
        length = np.hypot(*(a - b).T)
        keep = ia != ib
        n = len(nodes)
        self.nodes = nodes
        self.graph = coo_matrix((length[keep], (ia[keep], ib[keep])), shape=(n, n)).tocsr()
        self._tree = cKDTree(nodes)

    def distances(self, xy: np.ndarray) -> np.ndarray:
        """Network distances (m) between the points ``xy``: access walk + along the roads + access walk;
        ``inf`` where the network does not join the two points' nodes."""
        xy = np.asarray(xy, dtype=float)
        access, node = self._tree.query(xy)
        uniq, back = np.unique(node, return_inverse=True)
        along = dijkstra(self.graph, directed=False, indices=uniq)[:, uniq]
        d = access[:, None] + along[back][:, back] + access[None, :]
        np.fill_diagonal(d, 0.0)
        return d

    def circuity(self, xy: np.ndarray) -> float:
        """Network over straight-line distance, summed over the pairs of up to :data:`SAMPLE_POINTS` of the
        distinct positions (taken evenly along their sorted order, so the same homes give the same value);
        NaN when fewer than two positions or no pair is joined by the network."""
        pts = np.unique(np.asarray(xy, dtype=float), axis=0)
        if len(pts) < 2:
            return float("nan")
        if len(pts) > SAMPLE_POINTS:
            pts = pts[np.linspace(0, len(pts) - 1, SAMPLE_POINTS).round().astype(int)]
        net = self.distances(pts)
        straight = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
        ok = np.isfinite(net) & (straight > 1.0)
        if not ok.any():
            return float("nan")
        return float(max(1.0, net[ok].sum() / straight[ok].sum()))


def read_roads(path: str | Path, homes) -> RoadNetwork:
    """A road file (GeoPackage, shapefile, GeoJSON; any CRS, reprojected to the homes' CRS) as a network."""
    from .geography import read_geo_file

    source = str(path)
    gdf = read_geo_file(path, homes.crs, wanted="roads")
    geoms = gdf.geometry
    lines = geoms[geoms.notna() & geoms.geom_type.isin(["LineString", "MultiLineString"])]
    if lines.empty:
        raise InputError(source, [Problem(source, None, "geometry", None,
                                          "道路文件中没有线要素 (the road file has no lines)")],
                         headline="道路网文件无效 (road network file is invalid)")
    x0, y0, x1, y1 = homes.total_bounds
    near = shapely.box(x0 - NEAR_M, y0 - NEAR_M, x1 + NEAR_M, y1 + NEAR_M)
    if not lines.intersects(near).any():
        raise InputError(source, [Problem(source, None, "geometry", None,
                                          f"道路线都不在住户所在范围 {NEAR_M:g} 米以内：可能是别处的数据或坐标系不对 "
                                          f"(no road comes within {NEAR_M:g} m of the homes: another area or a wrong CRS?)")],
                         headline="道路网文件与登记册不在同一地区 (road network is elsewhere)")
    try:
        return RoadNetwork(lines.to_numpy())
    except ValueError:
        raise InputError(source, [Problem(source, None, "geometry", None,
                                          "道路线没有可用的线段 (no usable line segments)")],
                         headline="道路网文件无效 (road network file is invalid)") from None
