"""Grid outlines: the area a grid covers, drawn from its homes, for the map and the saved GeoPackage.

A grid is a set of homes (points), but planners read a map of areas. Each home gets the Voronoi cell
of its point inside its own unit (村/社区) polygon, so the cells of a unit tile the unit exactly; a grid's
outline is the union of its homes' cells. Because the cells form a coverage (they share edges and never
overlap), ``shapely.coverage_union_all`` dissolves them quickly, and only the grids a move touches are
dissolved again.

Homes at exactly the same spot share one cell. On the editor's map of one grid
(:meth:`GridOutlines.outline`) the shared cell appears in each of their grids; in a published plan
(:meth:`GridOutlines.grid_shapes`) a cell shared by several grids is cut into wedges around the point,
one per grid, so the grids of a unit never overlap and each still covers its homes. A home that lies
outside its unit polygon also gets the part of a small disc around it that lies outside the polygon, so
no grid is ever drawn empty and the disc never overlaps the unit's own cells. Without a units layer the
unit outline is the buffered convex hull of its homes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

#: radius (m) of the disc given to a home outside its unit polygon, and of the hull buffer without units
STRAY_RADIUS_M = 15.0
HULL_BUFFER_M = 60.0
LONLAT = "EPSG:4326"


class GridOutlines:
    """Voronoi cells of every home inside its unit, and dissolved grid outlines built from them.

    ``homes``: a register from :func:`gridsim.registers.read_homes` (``x``/``y`` in metres, a CRS);
    ``units``: optional GeoDataFrame with ``unit_id`` and polygon geometry in the same CRS.
    """

    def __init__(self, homes: pd.DataFrame, units=None):
        self.crs = getattr(homes, "crs", None)
        xy = homes[["x", "y"]].to_numpy(dtype=float)
        unit_ids = homes["unit_id"].to_numpy(dtype=object)
        self.unit_shapes: dict[str, shapely.Geometry] = {}
        if units is not None and len(units):
            for uid, geom in zip(units["unit_id"], units.geometry):
                self.unit_shapes[str(uid)] = geom
        cells = np.empty(len(homes), dtype=object)
        keys = np.empty(len(homes), dtype=np.int64)  # homes with the same key share one cell
        offset = 0
        for uid in pd.unique(unit_ids):
            idx = np.flatnonzero(unit_ids == uid)
            shape = self.unit_shapes.get(uid)
            if shape is None:
                shape = shapely.buffer(shapely.convex_hull(shapely.multipoints(xy[idx])), HULL_BUFFER_M)
                self.unit_shapes[uid] = shape
            cells[idx], unit_keys = _unit_cells(xy[idx], shape)
            keys[idx] = unit_keys + offset
            offset += int(unit_keys.max()) + 1
        self.cells = cells
        self.cell_keys = keys
        self.xy = xy

    def outline(self, positions) -> shapely.Geometry:
        """The dissolved outline (metres) of the homes at ``positions``."""
        parts = self.cells[np.asarray(positions, dtype=np.int64)]
        if len(parts) == 0:
            return shapely.Polygon()
        try:
            return shapely.coverage_union_all(parts)
        except shapely.errors.GEOSException:  # shared cells of stacked homes overlap: plain union
            return shapely.union_all(parts)

    def grid_shapes(self, assignment) -> dict[str, shapely.Geometry]:
        """Outline of every grid of ``assignment`` (grid id per home, aligned with the homes; None or NaN
        for unassigned), such that the grids of a unit do not overlap: a cell shared by homes of several
        grids (stacked homes) is cut into equal wedges around its point, one per grid in id order."""
        grid = pd.Series(np.asarray(assignment, dtype=object))
        ok = grid.notna().to_numpy()
        pairs = pd.DataFrame({"key": self.cell_keys[ok], "grid": grid[ok].astype(str).to_numpy(),
                              "pos": np.flatnonzero(ok)}).drop_duplicates(["key", "grid"])
        pieces: dict[str, list] = {}
        for key, rows in pairs.groupby("key", sort=False):
            cell = self.cells[rows["pos"].iat[0]]
            if len(rows) == 1:
                pieces.setdefault(rows["grid"].iat[0], []).append(cell)
                continue
            order = rows.sort_values("grid")
            apex = self.xy[order["pos"].iat[0]]
            for gid, wedge in zip(order["grid"], _wedges(cell, apex, len(order))):
                pieces.setdefault(gid, []).append(wedge)
        out = {}
        for gid, parts in pieces.items():
            try:
                out[gid] = shapely.coverage_union_all(parts)
            except shapely.errors.GEOSException:  # wedges cut in: not an exact coverage any more
                out[gid] = shapely.union_all(parts)
        return out


def _unit_cells(xy: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cells of the points ``xy`` clipped to ``shape``, one per point, and for each point the key
    of its cell (points at one spot, or merged by GEOS, share a cell and its key)."""
    uniq, inverse = np.unique(xy, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    keys_u = np.arange(len(uniq))
    if len(uniq) == 1:
        cells_u = np.array([shape], dtype=object)
    else:
        vor = shapely.voronoi_polygons(shapely.multipoints(uniq), extend_to=shapely.envelope(shape).buffer(1.0),
                                       ordered=True)
        cells_u = np.asarray(shapely.get_parts(vor), dtype=object)
        if len(cells_u) != len(uniq):  # GEOS merged near-identical points: match cells to points by position
            keys_u = _match_cells(uniq, cells_u)
            cells_u = cells_u[keys_u]
        cells_u = shapely.intersection(cells_u, shape)
    cells = cells_u[inverse]
    stray = shapely.is_empty(cells) | ~shapely.contains_xy(shape, xy[:, 0], xy[:, 1])
    if stray.any():
        discs = shapely.difference(shapely.buffer(shapely.points(xy[stray]), STRAY_RADIUS_M), shape)
        cells[stray] = np.where(shapely.is_empty(cells[stray]), discs, shapely.union(cells[stray], discs))
    return np.asarray(shapely.make_valid(cells), dtype=object), keys_u[inverse]


def _wedges(cell, apex: np.ndarray, k: int) -> list:
    """``cell`` cut into ``k`` equal angular sectors around ``apex`` (each keeps the apex on its edge)."""
    minx, miny, maxx, maxy = shapely.bounds(cell)
    r = 2.0 * float(np.hypot(maxx - minx, maxy - miny)) + 1.0
    out = []
    for j in range(k):
        ang = np.linspace(2 * np.pi * j / k, 2 * np.pi * (j + 1) / k, 16)
        ring = np.vstack([apex, np.column_stack([apex[0] + r * np.cos(ang), apex[1] + r * np.sin(ang)]), apex])
        out.append(shapely.intersection(cell, shapely.Polygon(ring)))
    return out


def _match_cells(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """For each point, the index of the Voronoi cell containing it (the nearest cell if none does)."""
    tree = shapely.STRtree(cells)
    return np.asarray(tree.nearest(shapely.points(points)), dtype=np.int64)


class LonLat:
    """Converts metric geometries (the register's CRS, EPSG:4548 for Shihe) to lon/lat for leaflet."""

    def __init__(self, crs):
        self._tr = Transformer.from_crs(crs, LONLAT, always_xy=True)
        self._back = Transformer.from_crs(LONLAT, crs, always_xy=True)

    def points(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._tr.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lon), np.asarray(lat)

    def geometry(self, geom):
        """A shapely geometry (or array) from metres to lon/lat."""
        return shapely.transform(geom, lambda xy: np.column_stack(self._tr.transform(xy[:, 0], xy[:, 1])))

    def to_metres(self, geom):
        """A shapely geometry (or array) from lon/lat to metres."""
        return shapely.transform(geom, lambda xy: np.column_stack(self._back.transform(xy[:, 0], xy[:, 1])))
