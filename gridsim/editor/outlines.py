"""Grid outlines: the area a grid covers, drawn from its homes, for the map and the saved GeoPackage.

A grid is a set of homes (points), but planners read a map of areas. Each home gets the Voronoi cell
of its point inside its own unit (村/社区) polygon, so the cells of a unit tile the unit exactly; a grid's
outline is the union of its homes' cells. Because the cells form a coverage (they share edges and never
overlap), ``shapely.coverage_union_all`` dissolves them quickly, and only the grids a move touches are
dissolved again.

Homes at exactly the same spot share one cell (it appears in each of their grids). A home that lies
outside its unit polygon gets a small disc instead of an empty cell, so no grid is ever drawn empty.
Without a units layer the unit outline is the buffered convex hull of its homes.
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
        for uid in pd.unique(unit_ids):
            idx = np.flatnonzero(unit_ids == uid)
            shape = self.unit_shapes.get(uid)
            if shape is None:
                shape = shapely.buffer(shapely.convex_hull(shapely.multipoints(xy[idx])), HULL_BUFFER_M)
                self.unit_shapes[uid] = shape
            cells[idx] = _unit_cells(xy[idx], shape)
        self.cells = cells

    def outline(self, positions) -> shapely.Geometry:
        """The dissolved outline (metres) of the homes at ``positions``."""
        parts = self.cells[np.asarray(positions, dtype=np.int64)]
        if len(parts) == 0:
            return shapely.Polygon()
        try:
            return shapely.coverage_union_all(parts)
        except shapely.errors.GEOSException:  # shared cells of stacked homes overlap: plain union
            return shapely.union_all(parts)


def _unit_cells(xy: np.ndarray, shape) -> np.ndarray:
    """Voronoi cells of the points ``xy`` clipped to ``shape``, one per point (stacked points share)."""
    n = len(xy)
    uniq, inverse = np.unique(xy, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if len(uniq) == 1:
        cells_u = np.array([shape], dtype=object)
    else:
        vor = shapely.voronoi_polygons(shapely.multipoints(uniq), extend_to=shapely.envelope(shape).buffer(1.0),
                                       ordered=True)
        cells_u = np.asarray(shapely.get_parts(vor), dtype=object)
        if len(cells_u) != len(uniq):  # GEOS merged near-identical points: match cells to points by position
            cells_u = _match_cells(uniq, cells_u)
        cells_u = shapely.intersection(cells_u, shape)
    cells = cells_u[inverse]
    empty = shapely.is_empty(cells) | ~shapely.contains_xy(shape, xy[:, 0], xy[:, 1])
    if empty.any():
        discs = shapely.buffer(shapely.points(xy[empty]), STRAY_RADIUS_M)
        cells[empty] = np.where(shapely.is_empty(cells[empty]), discs, shapely.union(cells[empty], discs))
    return np.asarray(shapely.make_valid(cells), dtype=object) if n else cells


def _match_cells(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """For each point, the Voronoi cell containing it (the nearest cell if none does)."""
    tree = shapely.STRtree(cells)
    pts = shapely.points(points)
    return cells[tree.nearest(pts)]


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
