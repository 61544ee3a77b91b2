"""The user's own geography: village/community outlines and rivers/roads, read from their GIS files.

A subdistrict with real registers also has real boundaries (村/社区 polygons) and real barriers (the
river that no grid may straddle, trunk roads that grid boundaries should follow). These are read from
GeoPackage, shapefile or GeoJSON in any CRS and reprojected to the register's CRS, so that
:func:`gridsim.graph.build_graph` can cut the adjacency at rivers and flag road crossings, and so that a
home whose stated unit (``unit_id``) does not contain it is caught before it is planned.

* :func:`read_units` — polygons with a ``unit_id`` column; several rows of one unit are merged.
* :func:`read_barriers` — lines (or areas, e.g. a river surface) with a ``kind`` column: ``river``
  (hard cut: no adjacency crosses it) or ``road`` (soft: edges are kept and flagged ``crosses_road``).
  ``河``/``河流``/``水系`` and ``路``/``道路``/``公路`` are read as river and road.
* :func:`check_homes_in_units` — every home inside its unit's polygon (within ``UNIT_TOLERANCE_M``),
  else one :class:`~gridsim.errors.InputError` naming the register, each row and ``unit_id``.

Units do not change the adjacency: edges never join homes of different units anyway (the unit of a home
is its register ``unit_id``); the polygons are a check on the register. A file without a CRS, an
unknown layer, a missing column, or a row whose geometry is empty, invalid or of the wrong type is an
``InputError`` naming the file (and row).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError, Problem

UNIT_TOLERANCE_M = 1.0  # a home this close outside its unit's polygon still counts as inside (digitising slack)
MAX_LISTED = 50  # rows listed one by one before the rest are counted
KIND_ALIASES = {"river": "river", "河": "river", "河流": "river", "水系": "river", "road": "road", "路": "road",
                "道路": "road", "公路": "road"}
SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".zip")


def _fail(source: str, message: str, field: str | None = None, value=None, headline: str | None = None):
    err = InputError(source, [Problem(source, None, field, value, message)])
    if headline:
        err.headline = headline
    raise err


def _pick_layer(path: Path, wanted: str, layer: str | None) -> str | None:
    """The layer to read: ``layer`` if given, else one named ``wanted``, else the only one."""
    import pyogrio

    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:
        _fail(str(path), f"无法读取文件 (cannot read file): {type(exc).__name__}: {str(exc).strip()}")
    if layer is not None:
        if layer not in layers:
            _fail(str(path), f"缺少图层 (missing layer); 可用 (available): {layers}", value=layer)
        return layer
    if len(layers) <= 1 or wanted in layers:
        return wanted if wanted in layers else (layers[0] if layers else None)
    _fail(str(path), f"文件有多个图层，请指明图层 (several layers, name one): {layers}", value=wanted)


def read_geo_file(path: str | Path, crs, *, wanted: str, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read one layer of a GIS file and reproject it to ``crs``; problems name the file.

    ``wanted``: the layer name to prefer in a multi-layer file (``units``, ``barriers``).
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        _fail(source, "文件不存在 (file not found)")
    if path.is_dir() or path.suffix.lower() not in SUFFIXES:
        _fail(source, "不支持的文件类型，请用 .gpkg / .shp / .geojson (unsupported file type)", value=path.suffix)
    name = _pick_layer(path, wanted, layer)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = gpd.read_file(path, layer=name, engine="pyogrio")
    except Exception as exc:  # any reader failure is one readable problem, not a traceback
        _fail(source, f"无法读取文件或其中的几何 (cannot read the file or its geometry): {type(exc).__name__}: {str(exc).strip()}")
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        _fail(source, "文件没有几何列 (file has no geometry)", field="geometry")
    if gdf.crs is None:
        _fail(source, "文件未声明坐标系 (file has no CRS); 请为其补上 .prj 或在 GIS 中指定 (add a .prj or set it in GIS)",
              field="geometry")
    if crs is None:
        _fail(source, "住户登记册没有坐标系，无法对齐 (the register has no CRS to align to)")
    try:
        gdf = gdf.to_crs(crs)
    except Exception as exc:
        _fail(source, f"无法转换坐标系 (cannot reproject) {gdf.crs} → {crs}: {exc}", field="geometry")
    gdf = gdf.reset_index(drop=True)
    gdf.columns = [str(c).strip() if c != gdf.geometry.name else c for c in gdf.columns]
    gdf.attrs["source"] = source
    return gdf


def _check_geometry(gdf: gpd.GeoDataFrame, allowed: tuple[str, ...], what: str) -> list[Problem]:
    source = gdf.attrs["source"]
    geom = gdf.geometry
    problems = []
    empty = (geom.isna() | geom.is_empty).to_numpy()
    types = geom.geom_type.to_numpy()
    valid = geom.is_valid.to_numpy()
    for p in range(len(gdf)):
        if empty[p]:
            problems.append(Problem(source, p + 1, "geometry", None, "缺少几何 (missing geometry)"))
        elif types[p] not in allowed:
            problems.append(Problem(source, p + 1, "geometry", types[p], f"{what}应为 {'/'.join(allowed)} "
                                    f"(geometry type must be {'/'.join(allowed)})"))
        elif not valid[p]:
            problems.append(Problem(source, p + 1, "geometry", None, "几何无效，如自相交 (invalid geometry, e.g. self-intersecting)"))
    return problems


def _text(gdf: gpd.GeoDataFrame, column: str, problems: list[Problem]) -> pd.Series:
    source = gdf.attrs["source"]
    s = gdf[column]
    missing = (s.isna() | s.astype(str).str.strip().eq("")).to_numpy()
    problems += [Problem(source, int(p) + 1, column, None, "缺少值 (missing value)") for p in np.flatnonzero(missing)]
    return s.where(missing, s.astype(str).str.strip())


def read_units(path: str | Path, crs, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Unit polygons (``unit_id`` + geometry, one row per unit, in ``crs``) from a GIS file."""
    gdf = read_geo_file(path, crs, wanted="units", layer=layer)
    source = gdf.attrs["source"]
    if "unit_id" not in gdf.columns:
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        _fail(source, f"缺少必需列 (missing required column); 现有列 (columns): {cols}", field="unit_id",
              headline="村社边界校验失败 (units file is invalid)")
    problems = _check_geometry(gdf, ("Polygon", "MultiPolygon"), "村社边界")
    ids = _text(gdf, "unit_id", problems)
    if problems:
        raise InputError(source, problems, headline="村社边界校验失败 (units file is invalid)")
    out = gpd.GeoDataFrame({"unit_id": ids}, geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    out = out.dissolve("unit_id", as_index=False, sort=True)[["unit_id", "geometry"]]
    out.attrs["source"] = source
    return out


def read_barriers(path: str | Path, crs, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Barrier lines (``kind`` river|road + geometry, in ``crs``) from a GIS file."""
    gdf = read_geo_file(path, crs, wanted="barriers", layer=layer)
    source = gdf.attrs["source"]
    head = "障碍图层校验失败 (barriers file is invalid)"
    if "kind" not in gdf.columns:
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        _fail(source, f"缺少必需列 kind：river（河流，硬分隔）或 road（道路，软分隔）(missing column 'kind'); "
                      f"现有列 (columns): {cols}", field="kind", headline=head)
    problems = _check_geometry(gdf, ("LineString", "MultiLineString", "Polygon", "MultiPolygon"), "障碍")
    raw = _text(gdf, "kind", problems)
    kind = raw.map(lambda v: KIND_ALIASES.get(str(v).strip().lower()) if isinstance(v, str) else None)
    for p in np.flatnonzero((raw.notna() & kind.isna()).to_numpy()):
        problems.append(Problem(source, int(p) + 1, "kind", raw.iat[p],
                                "障碍类型应为 river（河流）或 road（道路）(kind must be river or road)"))
    if problems:
        problems.sort(key=lambda q: (q.row or 0, q.field or ""))
        raise InputError(source, problems, headline=head)
    keep = [c for c in gdf.columns if c not in ("kind", gdf.geometry.name)]
    out = gpd.GeoDataFrame(gdf[keep].assign(kind=kind.to_numpy()), geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    out.attrs["source"] = source
    return out


def check_homes_in_units(homes: gpd.GeoDataFrame, units: gpd.GeoDataFrame, *,
                         tolerance: float = UNIT_TOLERANCE_M) -> None:
    """Raise one :class:`InputError` (against the register) for homes outside their unit's polygon.

    A home more than ``tolerance`` metres outside the polygon of its ``unit_id``, or whose ``unit_id``
    has no polygon, is reported by row, with the unit it does fall in where there is one.
    """
    from .registers import _Collector

    source = str(homes.attrs.get("source", "homes"))
    units_file = str(units.attrs.get("source", "units"))
    col = _Collector(source, is_csv=source.lower().endswith(".csv"))
    pts = gpd.GeoSeries(gpd.points_from_xy(homes["x"], homes["y"]), crs=units.crs)
    polys = pd.Series(units.geometry.to_numpy(), index=units["unit_id"].to_numpy())
    uid = homes["unit_id"].astype(str).to_numpy()
    known = np.isin(uid, polys.index.to_numpy())
    inside = np.zeros(len(homes), dtype=bool)
    for u in np.unique(uid[known]):
        sel = np.flatnonzero(uid == u)
        inside[sel] = pts.iloc[sel].distance(polys[u]).to_numpy() <= tolerance
    bad = np.flatnonzero(~inside)
    if len(bad) == 0:
        return
    # which unit each stray home does fall in (first polygon containing it), to name the likely mistake
    hit = gpd.sjoin(gpd.GeoDataFrame(geometry=pts.iloc[bad].to_numpy(), crs=units.crs, index=bad),
                    units[["unit_id", "geometry"]], how="left", predicate="within")
    falls_in = hit.groupby(level=0)["unit_id"].first()
    if not inside.any() and falls_in.isna().all():
        col.add(None, None, None, f"没有任何住户落在 {units_file} 的村社边界内，请检查两者的坐标系 "
                                  f"(no home lies in any polygon of {units_file}: check both CRS)")
    for p in bad[:MAX_LISTED].tolist():
        if not known[p]:
            msg = f"村社边界文件 {units_file} 中没有这个村社 (unit not in the units file)"
        else:
            where = falls_in.get(p)
            msg = (f"住户不在所属村社的边界内（{units_file}）(home lies outside its unit's polygon)"
                   + (f"；落在 {where} 内 (it falls in {where})" if isinstance(where, str) else ""))
        col.add(p, "unit_id", uid[p], msg)
    if len(bad) > MAX_LISTED:
        col.add(None, "unit_id", None, f"另有 {len(bad) - MAX_LISTED} 个住户不在所属村社边界内 (more homes outside)")
    col.raise_if_any("住户与村社边界不符 (homes lie outside their units)")
