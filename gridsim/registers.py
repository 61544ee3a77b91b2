"""Reading and validating registers (homes, cases, plans) once, at the edge.

A homes register may be a GeoPackage, GeoJSON or CSV (``x``/``y`` in metres, or lon/lat, with a stated
CRS). Every problem in the file — missing columns, wrong types, negative or fractional counts,
``resident_households > households``, duplicate ids, unknown unit types, bad geometry or CRS — is
collected into one :class:`~gridsim.errors.InputError` that names the file, the row and the field.
Everything downstream trusts the returned frame: ints are ints, ids are unique strings, coordinates are
metres in a projected CRS (``x``/``y`` columns beside the geometry).

Rows are numbered from 1 over data rows (the header is not counted); for a CSV the message also gives
the line in the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError, Problem
from .paths import SHIHE_GPKG

METRIC_CRS = "EPSG:4548"  # CGCS2000 / 3-degree Gauss-Kruger CM 117E, for lon/lat input near 叶集
UNIT_TYPES = ("village", "community")
UNIT_TYPE_ALIASES = {"村": "village", "社区": "community", "村庄": "village", "小区": "community"}

HOME_REQUIRED = ("home_id", "unit_id", "unit_type", "households", "resident_households")
HOME_COUNTS = ("households", "resident_households", "key_households")
HOME_OPTIONAL_TEXT = ("group_id", "current_grid_id")

_FIELD_ZH = {
    "home_id": "住户编号", "unit_id": "村社编号", "unit_type": "村社类型", "households": "户数",
    "resident_households": "常住户数", "key_households": "五必访户数", "group_id": "村民组/小区",
    "current_grid_id": "现网格", "geometry": "几何", "x": "x坐标", "y": "y坐标", "grid_id": "网格编号",
}


class _Collector:
    """Gathers problems for one file, with CSV line numbers where they help."""

    def __init__(self, source: str, is_csv: bool) -> None:
        self.source = source
        self.is_csv = is_csv
        self.problems: list[Problem] = []

    def add(self, pos: int | None, field: str | None, value, message: str) -> None:
        row = None if pos is None else int(pos) + 1
        if row is not None and self.is_csv:
            message = f"{message}（文件第 {row + 1} 行 line {row + 1}）"
        label = f"{field}（{_FIELD_ZH[field]}）" if field in _FIELD_ZH else field
        self.problems.append(Problem(self.source, row, label, _show(value), message))

    def add_rows(self, mask, series: pd.Series | None, field: str, message: str) -> None:
        for pos in np.flatnonzero(np.asarray(mask)):
            self.add(pos, field, None if series is None else series.iat[pos], message)

    def raise_if_any(self, headline: str | None = None) -> None:
        if self.problems:
            problems = sorted(self.problems, key=lambda p: (p.row is not None, p.row or 0, p.field or ""))
            err = InputError(self.source, problems)
            if headline:
                err.headline = headline
            raise err


def _show(value):
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return "（空 empty）"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _read_table(path: Path, layer: str | None, col: _Collector) -> pd.DataFrame:
    """Read a CSV as text, or a spatial file with its geometry; unreadable files are one problem."""
    suffix = path.suffix.lower()
    if not path.exists():
        col.add(None, None, None, "文件不存在 (file not found)")
        col.raise_if_any()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        if suffix in (".gpkg", ".geojson", ".json", ".shp", ".fgb"):
            import pyogrio

            if suffix == ".gpkg" and layer is not None:
                layers = [name for name, _ in pyogrio.list_layers(path)]
                if layer not in layers:
                    col.add(None, None, layer, f"缺少图层 (missing layer); 可用 (available): {layers}")
                    col.raise_if_any()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return gpd.read_file(path, layer=layer if suffix == ".gpkg" else None, engine="pyogrio")
    except InputError:
        raise
    except Exception as exc:  # any reader failure becomes one readable problem, not a traceback
        col.add(None, None, None, f"无法读取文件 (cannot read file): {type(exc).__name__}: {exc}")
        col.raise_if_any()
    col.add(None, None, suffix, "不支持的文件类型，请用 .gpkg / .geojson / .csv (unsupported file type)")
    col.raise_if_any()
    raise AssertionError("unreachable")


def _text_column(df: pd.DataFrame, name: str, col: _Collector, required: bool) -> None:
    s = df[name]
    missing = s.isna() | s.astype(str).str.strip().eq("")
    if required:
        col.add_rows(missing, s, name, "缺少值 (missing value)")
    df[name] = s.where(missing, s.astype(str).str.strip())


def _count_column(df: pd.DataFrame, name: str, col: _Collector) -> None:
    """Counts must be present, numeric, whole and non-negative; problems are reported per row."""
    raw = df[name]
    num = pd.to_numeric(raw, errors="coerce")
    missing = raw.isna() | raw.astype(str).str.strip().eq("")
    not_number = num.isna() & ~missing
    col.add_rows(missing, raw, name, "缺少值 (missing value)")
    col.add_rows(not_number, raw, name, "不是数字 (not a number)")
    ok = num.notna()
    col.add_rows(ok & (num < 0), raw, name, "户数不能为负 (count must not be negative)")
    col.add_rows(ok & (num >= 0) & (num != np.floor(num)), raw, name, "户数必须为整数 (count must be a whole number)")
    df[name] = num


def _geometry(df: pd.DataFrame, path: Path, crs: str | None, col: _Collector) -> gpd.GeoDataFrame:
    """Points in a metric CRS from geometry or x/y; lon/lat is projected to CGCS2000 Gauss-Krüger."""
    if isinstance(df, gpd.GeoDataFrame) and df.geometry.name in df and df.geometry.notna().any():
        gdf = df
        if gdf.crs is None and crs is None:
            col.add(None, "geometry", None, "文件未声明坐标系，请用 --crs 指明 (no CRS; state it with --crs)")
            col.raise_if_any()
        if crs is not None:
            gdf = gdf.set_crs(crs, allow_override=True)
        geom = gdf.geometry
        empty = geom.isna() | geom.is_empty
        col.add_rows(empty, None, "geometry", "缺少几何 (missing geometry)")
        invalid = ~empty & ~geom.is_valid
        col.add_rows(invalid, None, "geometry", "几何无效 (invalid geometry)")
        gdf = gdf.set_geometry(geom.where(empty | invalid, geom.representative_point()))
    else:
        absent = [axis for axis in ("x", "y") if axis not in df.columns]
        for axis in absent:
            col.add(None, axis, None, "缺少坐标列 x/y 或几何 (missing x/y columns or geometry)")
        if absent:
            col.raise_if_any()
        xs = {}
        for axis in ("x", "y"):
            raw = df[axis]
            num = pd.to_numeric(raw, errors="coerce")
            col.add_rows(num.isna() | ~np.isfinite(num.fillna(0)), raw, axis, "坐标缺失或不是数字 (coordinate missing or not a number)")
            xs[axis] = num
        looks_lonlat = bool(xs["x"].dropna().abs().le(180).all() and xs["y"].dropna().abs().le(90).all())
        if crs is None:
            if looks_lonlat:
                crs = "EPSG:4490"
            else:
                col.add(None, "x", None, "坐标为米制但未声明坐标系，请用 --crs 指明，例如 EPSG:4548 (metres need --crs)")
                col.raise_if_any()
        gdf = gpd.GeoDataFrame(df.drop(columns=["geometry"], errors="ignore"),
                               geometry=gpd.points_from_xy(xs["x"], xs["y"]), crs=crs)
    try:
        crs_obj = gdf.crs
        if crs_obj.is_geographic:
            gdf = gdf.to_crs(METRIC_CRS)
        elif crs_obj.axis_info and crs_obj.axis_info[0].unit_name not in ("metre", "meter"):
            col.add(None, "geometry", str(crs_obj), "投影坐标系的单位不是米 (projected CRS must be in metres)")
    except Exception as exc:
        col.add(None, "geometry", str(crs), f"坐标系无效 (invalid CRS): {exc}")
    return gdf


def read_homes(path: str | Path = SHIHE_GPKG, *, layer: str = "homes", crs: str | None = None) -> gpd.GeoDataFrame:
    """Read and validate a homes register; raise :class:`InputError` listing every bad row.

    Returns one row per home with the required columns as clean types, ``key_households`` (0 where
    absent), optional ``group_id`` / ``current_grid_id``, and ``x``/``y`` in metres.
    """
    path = Path(path)
    col = _Collector(str(path), is_csv=path.suffix.lower() == ".csv")
    df = _read_table(path, layer, col).reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in HOME_REQUIRED if c not in df.columns]
    for c in missing:
        col.add(None, c, None, "缺少必需列 (missing required column)")
    col.raise_if_any()
    if len(df) == 0:
        col.add(None, None, None, "登记册没有任何住户 (register has no rows)")
        col.raise_if_any()

    for name in ("home_id", "unit_id", "unit_type"):
        _text_column(df, name, col, required=True)
    for name in HOME_OPTIONAL_TEXT:
        if name in df.columns:
            _text_column(df, name, col, required=False)
    if "key_households" not in df.columns:
        df["key_households"] = 0
    for name in HOME_COUNTS:
        _count_column(df, name, col)

    ids = df["home_id"]
    dup = ids.notna() & ids.duplicated(keep="first")
    first_pos = {v: i for i, v in reversed(list(enumerate(ids)))}
    for pos in np.flatnonzero(dup.to_numpy()):
        col.add(pos, "home_id", ids.iat[pos], f"住户编号重复，首次出现在第 {first_pos[ids.iat[pos]] + 1} 行 (duplicate id)")
    nonascii = ids.notna() & ~ids.fillna("").map(str.isascii)
    col.add_rows(nonascii, ids, "home_id", "编号须为 ASCII 字符 (ids must be ASCII)")

    ut = df["unit_type"].map(lambda v: UNIT_TYPE_ALIASES.get(v, v) if isinstance(v, str) else v)
    bad_type = ut.notna() & ~ut.isin(UNIT_TYPES)
    col.add_rows(bad_type, df["unit_type"], "unit_type", "村社类型应为 village（村）或 community（社区）(unknown unit type)")
    df["unit_type"] = ut
    good = df["unit_id"].notna() & ut.isin(UNIT_TYPES)
    first_type = df.loc[good].groupby("unit_id")["unit_type"].first()
    clash = good & (ut != df["unit_id"].map(first_type))
    col.add_rows(clash, df["unit_type"], "unit_type", "同一村社的类型前后不一致 (unit type differs within one unit)")

    def valid(s: pd.Series) -> pd.Series:
        return s.notna() & (s >= 0) & (s == np.floor(s))

    h, r, k = df["households"], df["resident_households"], df["key_households"]
    col.add_rows(valid(h) & valid(r) & (r > h), r, "resident_households",
                 "常住户数大于户数 (resident households exceed households)")
    col.add_rows(valid(h) & valid(k) & (k > h), k, "key_households",
                 "五必访户数大于户数 (key households exceed households)")

    gdf = _geometry(df, path, crs, col)
    col.raise_if_any("住户登记册校验失败 (homes register is invalid)")

    for name in HOME_COUNTS:
        gdf[name] = gdf[name].astype("int64")
    gdf["x"] = gdf.geometry.x
    gdf["y"] = gdf.geometry.y
    gdf.attrs["source"] = str(path)
    order = [*HOME_REQUIRED, "key_households", *[c for c in HOME_OPTIONAL_TEXT if c in gdf.columns], "x", "y"]
    rest = [c for c in gdf.columns if c not in order and c != gdf.geometry.name]
    return gdf[order + rest + [gdf.geometry.name]]


def read_layer(name: str, path: str | Path = SHIHE_GPKG) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read one auxiliary layer of the embedded set (units, groups, current_grids, barriers)."""
    path = Path(path)
    col = _Collector(str(path), is_csv=False)
    return _read_table(path, name, col)


def read_cases(path: str | Path = SHIHE_GPKG, *, layer: str = "cases", policy=None) -> pd.DataFrame:
    """Read and validate platform cases: unique ids, dates, known categories and levels, quality 0-100."""
    from .policy import load_baseline

    policy = policy or load_baseline()
    path = Path(path)
    col = _Collector(str(path), is_csv=path.suffix.lower() == ".csv")
    df = pd.DataFrame(_read_table(path, layer, col)).reset_index(drop=True)
    need = ("case_id", "grid_id", "unit_id", "date", "category", "level", "on_time", "quality")
    for c in need:
        if c not in df.columns:
            col.add(None, c, None, "缺少必需列 (missing required column)")
    col.raise_if_any()
    for c in ("case_id", "grid_id", "unit_id", "category", "level"):
        _text_column(df, c, col, required=True)
    col.add_rows(df["case_id"].duplicated(), df["case_id"], "case_id", "办件编号重复 (duplicate case id)")
    date = pd.to_datetime(df["date"], errors="coerce", format="mixed")
    col.add_rows(date.isna(), df["date"], "date", "日期无效 (invalid date)")
    codes = {it.code for it in policy.service_items}
    col.add_rows(df["category"].notna() & ~df["category"].isin(codes), df["category"], "category",
                 "不在准入清单内的事项类别 (category not in attachment 1)")
    levels = set(policy["escalation.levels"])
    col.add_rows(df["level"].notna() & ~df["level"].isin(levels), df["level"], "level",
                 f"处置层级应为 {sorted(levels)} 之一 (unknown level)")
    on_time = df["on_time"].map(lambda v: {"true": True, "false": False, "1": True, "0": False}.get(str(v).strip().lower(), v)
                                if not isinstance(v, (bool, np.bool_)) else bool(v))
    col.add_rows(~on_time.map(lambda v: isinstance(v, (bool, np.bool_))), df["on_time"], "on_time",
                 "应为 true/false (must be true or false)")
    q = pd.to_numeric(df["quality"], errors="coerce")
    col.add_rows(q.isna() | (q < 0) | (q > 100), df["quality"], "quality", "质量分应在0到100之间 (quality must be 0-100)")
    col.raise_if_any("办件数据校验失败 (cases are invalid)")
    df["date"] = date
    df["on_time"] = on_time.astype(bool)
    df["quality"] = q.astype(float)
    return df


def read_plan(path: str | Path, homes: pd.DataFrame, *, cross_unit_ok: bool = False) -> pd.Series:
    """Read a ``home_id,grid_id`` plan and check it assigns every home of ``homes`` exactly once, and
    that no grid spans two units (三(一): 网格不跨村社) — reported against the plan file and its rows.
    ``cross_unit_ok``: accept such grids (a draft to be repaired, whose violations a Plan lists).

    Returns ``grid_id`` indexed like ``homes`` (in the same order).
    """
    path = Path(path)
    col = _Collector(str(path), is_csv=path.suffix.lower() == ".csv")
    df = pd.DataFrame(_read_table(path, None, col)).reset_index(drop=True)
    for c in ("home_id", "grid_id"):
        if c not in df.columns:
            col.add(None, c, None, "缺少必需列 (missing required column)")
    col.raise_if_any()
    _text_column(df, "home_id", col, required=True)
    _text_column(df, "grid_id", col, required=True)
    known = set(homes["home_id"])
    col.add_rows(df["home_id"].notna() & ~df["home_id"].isin(known), df["home_id"], "home_id",
                 "登记册中没有这个住户 (home not in the register)")
    col.add_rows(df["home_id"].duplicated(), df["home_id"], "home_id", "住户被分到多个网格 (home assigned twice)")
    missing = sorted(known - set(df["home_id"].dropna()))
    for hid in missing[:50]:
        col.add(None, "home_id", hid, "方案中缺少这个住户 (home missing from the plan)")
    if len(missing) > 50:
        col.add(None, "home_id", None, f"另有 {len(missing) - 50} 个住户缺失 (more homes missing)")
    if not cross_unit_ok:
        _grids_within_units(df, homes, col)
    col.raise_if_any("网格方案校验失败 (plan is invalid)")
    grid = df.set_index("home_id")["grid_id"]
    return pd.Series(homes["home_id"].map(grid).to_numpy(), index=homes.index, name="grid_id")


def _grids_within_units(df: pd.DataFrame, homes: pd.DataFrame, col: _Collector, listed: int = 50) -> None:
    """Rows of a plan whose grid also holds homes of another unit: each row not in the grid's main unit
    (the one with most of its rows) is named, with the units the grid spans."""
    unit = df["home_id"].map(pd.Series(homes["unit_id"].to_numpy(), index=homes["home_id"].to_numpy()))
    ok = unit.notna() & df["grid_id"].notna()
    spans = unit[ok].groupby(df["grid_id"][ok]).nunique()
    wide = spans.index[spans > 1]
    if len(wide) == 0:
        return
    rows = []
    for gid in wide:
        sel = ok & df["grid_id"].eq(gid)
        counts = unit[sel].value_counts()
        main = counts.index[0]
        names = "、".join(map(str, counts.index))
        for pos in np.flatnonzero((sel & unit.ne(main)).to_numpy()):
            rows.append((pos, gid, unit.iat[pos], main, names))
    for pos, gid, u, main, names in rows[:listed]:
        col.add(pos, "grid_id", gid, f"网格跨越村社 {names}：本行住户属 {u}，该网格其余住户多属 {main}（三(一) 网格不跨村社）"
                                     f" (grid spans several units: this home is in {u}, most of the grid in {main})")
    if len(rows) > listed:
        col.add(None, "grid_id", None, f"另有 {len(rows) - listed} 行网格跨越村社 (more rows in grids that span units)")
