"""A plan as a GeoPackage (``PLAN.gpkg``) that opens in QGIS as is: grid outlines, homes and units.

A plan is a table ``home_id,grid_id``; the subdistrict's GIS needs areas. The grid outlines are the
editor's (:class:`gridsim.editor.outlines.GridOutlines`): every home gets the Voronoi cell of its point
inside its unit, a grid is the union of its homes' cells, so the grids of a unit tile the unit outline
without overlapping and each covers its homes (stacked homes of different grids split their shared
cell, see :meth:`~gridsim.editor.outlines.GridOutlines.grid_shapes`).

Layers, all in the register's CRS:

* ``grids`` — one (multi)polygon per grid: ``grid_id``, ``unit_id``, ``unit_name`` (when the units layer
  names them), ``unit_type``, ``homes``, ``households``, ``resident_households``, ``key_households``,
  ``ok``, ``violations`` (rule names) and ``status`` (the same in Chinese), counts and status from
  :meth:`gridsim.plan.Plan.summary`;
* ``homes`` — one point per home: ``home_id``, ``unit_id``, ``group_id`` (when the register has it),
  ``grid_id`` and the register's counts;
* ``units`` — the unit outlines given (the register's ``units`` layer) or, without one, a buffered hull
  of each unit's homes, with the unit's totals and number of grids.

The file is written to a temporary name in the target folder and renamed, so an existing plan file is
replaced whole or not at all.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import GridsimError
from .plan import RULES, TALLIES, Plan

LAYERS = ("grids", "homes", "units")


def register_layers(source, names=("units", "groups")) -> dict:
    """Auxiliary layers of a GeoPackage register, read when it has them: ``units`` (outlines and Chinese
    names), ``groups`` (村民组/小区 names), ``barriers`` (for the adjacency); None where absent (a CSV or
    GeoJSON register has none)."""
    out = dict.fromkeys(names)
    if source is None or Path(source).suffix.lower() != ".gpkg" or not Path(source).exists():
        return out
    import pyogrio

    from .registers import read_layer

    present = {name for name, _ in pyogrio.list_layers(source)}
    for name in out:
        if name in present:
            out[name] = read_layer(name, source)
    return out


def unit_names(units) -> dict[str, str]:
    """unit_id → Chinese name from a units layer with a ``name`` column (empty when unknown)."""
    if units is None or "name" not in getattr(units, "columns", ()):
        return {}
    return {str(u): str(n) for u, n in zip(units["unit_id"], units["name"]) if pd.notna(n) and str(n).strip()}


def status_text(violations: str) -> str:
    """Chinese status of a grid from :meth:`Plan.summary`'s ``violations`` (rule names joined by ``;``)."""
    names = [v for v in str(violations or "").split(";") if v]
    return "合规" if not names else "；".join(RULES[v].label if v in RULES else v for v in names)


def plan_layers(plan: Plan, units=None, outlines=None) -> dict[str, gpd.GeoDataFrame]:
    """The three layers of ``PLAN.gpkg`` as GeoDataFrames (see the module docstring).

    ``units``: optional unit polygons (GeoDataFrame with ``unit_id``; ``name`` used when present),
    reprojected to the register's CRS; ``outlines``: a :class:`GridOutlines` already built for these
    homes and units (the editor keeps one), to save recomputing the cells.
    """
    from .editor.outlines import GridOutlines

    homes = plan.homes
    crs = getattr(homes, "crs", None)
    if units is not None:
        if "unit_id" not in units.columns:
            raise GridsimError("村社图层缺少 unit_id 列 (units layer has no unit_id column)")
        if crs is not None and units.crs is not None and units.crs != crs:
            units = units.to_crs(crs)
    if outlines is None:
        outlines = GridOutlines(homes, units)
    names = unit_names(units)
    assignment = plan.assignment.to_numpy(dtype=object)
    if pd.isna(assignment).any():
        raise GridsimError("方案中有未分配网格的住户，不能写出 (plan has unassigned homes; nothing written)")

    summary = plan.summary()
    shapes = outlines.grid_shapes(assignment)
    grids = summary[["grid_id", "unit_id"]].copy()
    if names:
        grids["unit_name"] = grids["unit_id"].map(names)
    grids["unit_type"] = summary["unit_type"]
    for t in ("homes", "households", "resident_households", "key_households"):
        grids[t] = summary[t].astype(np.int64)
    grids["ok"] = summary["ok"].astype(bool)
    grids["violations"] = summary["violations"]
    grids["status"] = summary["violations"].map(status_text)
    grids = gpd.GeoDataFrame(grids, geometry=[_polygonal(shapes[g]) for g in grids["grid_id"]], crs=crs)

    cols = ["home_id", "unit_id", *(["group_id"] if "group_id" in homes.columns else []), "households",
            "resident_households", "key_households"]
    points = gpd.points_from_xy(homes["x"], homes["y"])
    home_layer = gpd.GeoDataFrame(pd.DataFrame(homes[cols]).reset_index(drop=True), geometry=points, crs=crs)
    home_layer.insert(len(cols) - 3, "grid_id", assignment)

    totals = summary.groupby("unit_id").agg(grids=("grid_id", "size"), ok_grids=("ok", "sum"),
                                            **{t: (t, "sum") for t in TALLIES})
    types = dict(zip(homes["unit_id"], homes["unit_type"]))
    if units is not None and "unit_type" in units.columns:
        types = {**dict(zip(units["unit_id"].astype(str), units["unit_type"])), **types}
    ids = list(outlines.unit_shapes)
    unit_layer = pd.DataFrame({"unit_id": ids})
    if names:
        unit_layer["unit_name"] = unit_layer["unit_id"].map(names)
    unit_layer["unit_type"] = unit_layer["unit_id"].map(types)
    for c in ("grids", "ok_grids", "homes", "households", "resident_households", "key_households"):
        unit_layer[c] = unit_layer["unit_id"].map(totals[c]).fillna(0).astype(np.int64)
    unit_layer = gpd.GeoDataFrame(unit_layer, geometry=[_polygonal(outlines.unit_shapes[u]) for u in ids], crs=crs)
    return {"grids": grids, "homes": home_layer, "units": unit_layer}


def _polygonal(geom):
    """The polygon parts of a geometry (cutting cells may leave stray lines or points in a collection)."""
    if shapely.get_type_id(geom) == 7:  # GeometryCollection
        return shapely.union_all([g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)])
    return geom


def write_plan_gpkg(plan: Plan, path, units=None, outlines=None) -> Path:
    """Write ``PLAN.gpkg`` (layers ``grids``, ``homes``, ``units``; see the module docstring) and return
    its path. The file appears whole: it is written under a temporary name in the same folder and then
    renamed over any existing file."""
    path = Path(path)
    layers = plan_layers(plan, units, outlines)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".gpkg", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # GDAL creates the GeoPackage itself
    try:
        for name in LAYERS:  # polygons all as MultiPolygon: one geometry type per layer for QGIS
            layers[name].to_file(tmp, layer=name, driver="GPKG", engine="pyogrio",
                                 promote_to_multi=name != "homes")
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            if leftover.exists():
                leftover.unlink()
    return path
