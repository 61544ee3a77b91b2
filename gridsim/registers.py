"""Reading and validating registers (homes, cases, plans) once, at the edge.

A homes register may be a GeoPackage, GeoJSON or shapefile, an Excel workbook (``.xlsx``/``.xls``, the
first visible sheet unless a sheet is named) or a CSV in any of the encodings and separators Excel
saves (see :mod:`gridsim.register_formats`), with ``x``/``y`` in metres or lon/lat and a stated CRS.
Chinese headers (``户数``, ``村（社区）`` …) are mapped to the register's fields, and the mapping used is
kept in ``attrs["header_mapping"]``. Every problem in the file — missing columns, wrong types, negative,
fractional, infinite or implausibly large counts, ``resident_households > households``, duplicate ids,
unknown unit types, bad geometry, an unknown CRS or points outside its area of use — is collected into
one :class:`~gridsim.errors.InputError` that names the file, the row and the field. Everything
downstream trusts the returned frame: ints are ints, ids are unique strings, coordinates are finite
metres in a projected CRS (``x``/``y`` columns beside the geometry).

Rows are numbered from 1 over data rows (the header is not counted); for a CSV or a sheet the message
also gives the line in the file or the row in the sheet.
"""

from __future__ import annotations

import unicodedata
import warnings
from decimal import Decimal, InvalidOperation
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError, Problem
from .paths import SHIHE_GPKG
from .register_formats import (TEXT_SUFFIXES, WORKBOOK_SUFFIXES, count_known_headers, map_headers, read_text,
                               read_workbook)

METRIC_CRS = "EPSG:4548"  # CGCS2000 / 3-degree Gauss-Kruger CM 117E, for lon/lat input near 叶集
LONLAT_CRS = "EPSG:4490"  # CGCS2000 lon/lat, assumed for lon/lat input without --crs
UNIT_TYPES = ("village", "community")
UNIT_TYPE_ALIASES = {"村": "village", "社区": "community", "村庄": "village", "小区": "community"}

HOME_REQUIRED = ("home_id", "unit_id", "unit_type", "households", "resident_households")
HOME_COUNTS = ("households", "resident_households", "key_households")
HOME_OPTIONAL_TEXT = ("group_id", "current_grid_id", "building", "door")

MAX_HOUSEHOLDS_PER_HOME = 2000
"""The most households one register row (a village house, or a building of a community) may carry.

The plan caps a community grid at 500 planned households and a home is never split between grids, so
no row above 500 can ever sit in a legal grid; the tallest residential blocks of a county town (about
30 storeys × 4 entrances × 4 flats ≈ 500 flats) stay well below this bound. A row past it is a typo, a
unit's total pasted into a home, or a ``合计`` line, and is refused rather than carried into the
optimizer and the money (a count parsed with silent wrap-around once priced a need of −1.8e19 yuan).
"""

YEJI_LONLAT = (115.9, 31.85)  # 叶集 (史河街道), lon/lat: where the plan and the embedded layers apply
FAR_FROM_YEJI_KM = 200.0
"""Distance from 叶集 beyond which a register gets a warning (not an error): 六安市 spans about 150 km,
so a register farther away than 200 km is either another place (the embedded units, barriers and
policy do not fit it) or coordinates in the wrong CRS or order."""

TOTAL_ROW_LABELS = ("合计", "总计", "小计")  # sums that exports append below (or between) the rows of homes

_FIELD_ZH = {
    "home_id": "住户编号", "unit_id": "村社编号", "unit_type": "村社类型", "households": "户数",
    "resident_households": "常住户数", "key_households": "五必访户数", "group_id": "村民组/小区",
    "current_grid_id": "现网格", "geometry": "几何", "x": "x坐标", "y": "y坐标", "grid_id": "网格编号",
    "building": "楼栋", "door": "门牌", "x/y": "坐标", "lon": "经度", "lat": "纬度",
}
_MAX_ROWS_PER_MESSAGE = 20  # a whole register in the wrong CRS is named by its first rows, then counted


class RegisterWarning(UserWarning):
    """A register that reads but looks unlikely (e.g. far from 叶集); shown, never fatal."""


class _Collector:
    """Gathers problems for one file, with the line in the file (or row in the sheet) where it helps."""

    def __init__(self, source: str, is_csv: bool) -> None:
        self.source = source
        self.is_csv = is_csv
        self.problems: list[Problem] = []
        self.lines: list[int] | None = None  # line in the file / row in the sheet of each data row
        self.rows: list[int] | None = None  # data row number of each frame row, once rows were skipped
        self.line_label = "文件第 {n} 行 line {n}"
        self.info: dict[str, object] = {}
        self.headers: dict[str, str] = {}  # field -> the header the user wrote, where they differ

    def add(self, pos: int | None, field: str | None, value, message: str) -> None:
        row = None if pos is None else (self.rows[pos] if self.rows is not None else int(pos) + 1)
        if row is not None and (self.is_csv or self.lines is not None):
            line = self.lines[pos] if self.lines is not None and pos < len(self.lines) else int(row) + 1
            message = f"{message}（{self.line_label.format(n=line)}）"
        label = f"{field}（{_FIELD_ZH[field]}）" if field in _FIELD_ZH else field
        if field in self.headers and self.headers[field] != _FIELD_ZH.get(field):
            label = f"{field}（{_FIELD_ZH.get(field, field)}，表头 header「{' '.join(self.headers[field].split())}」）"
        self.problems.append(Problem(self.source, row, label, _show(value), message))

    def add_rows(self, mask, series: pd.Series | None, field: str, message: str,
                 limit: int | None = None) -> None:
        positions = np.flatnonzero(np.asarray(mask))
        for pos in positions[:limit]:
            self.add(pos, field, None if series is None else series.iat[pos], message)
        if limit is not None and len(positions) > limit:
            self.add(None, field, None, f"另有 {len(positions) - limit} 行同样的问题 "
                                        f"({len(positions) - limit} more rows alike): {message}")

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


_DEFAULT_LAYERS = (None, "homes", "cases")  # layer names that mean "the first sheet" for a workbook


def _read_table(path: Path, layer: str | None, col: _Collector, header_score=None) -> pd.DataFrame:
    """Read a CSV or workbook as text, or a spatial file with its geometry; unreadable files are one problem.

    For a workbook ``layer`` names the sheet; the default layer names (``homes``, ``cases``) fall back
    to the first visible sheet when the workbook has no sheet of that name.
    """
    suffix = path.suffix.lower()
    if not path.exists():
        col.add(None, None, None, "文件不存在 (file not found)")
        col.raise_if_any()
    try:
        if suffix in TEXT_SUFFIXES or suffix in WORKBOOK_SUFFIXES:
            if suffix in TEXT_SUFFIXES:
                table = read_text(path, header_score)
            else:
                table = read_workbook(path, layer, header_score, first_if_missing=layer in _DEFAULT_LAYERS)
            col.lines, col.line_label, col.info = table.lines, table.line_label, table.info
            return table.frame
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
    col.add(None, None, suffix, "不支持的文件类型，请用 .gpkg / .geojson / .shp / .xlsx / .xls / .csv "
                                "(unsupported file type)")
    col.raise_if_any()
    raise AssertionError("unreachable")


def _text_column(df: pd.DataFrame, name: str, col: _Collector, required: bool) -> None:
    s = df[name]
    missing = s.isna() | s.astype(str).str.strip().eq("")
    if required:
        col.add_rows(missing, s, name, "缺少值 (missing value)")
    df[name] = s.where(missing, s.astype(str).str.strip())


_COUNT_PROBLEMS = {
    "missing": "缺少值 (missing value)",
    "nan": "不是数字 (not a number)",
    "infinite": "不是有限的数字 (not a finite number: inf/nan)",
    "negative": "户数不能为负 (count must not be negative)",
    "fraction": "户数必须为整数 (count must be a whole number)",
    "too_large": f"超过每条住户记录的合理上限 {MAX_HOUSEHOLDS_PER_HOME} 户 "
                 f"(exceeds the plausible maximum of {MAX_HOUSEHOLDS_PER_HOME} per home)",
}


def parse_count(value) -> tuple[int | None, str | None]:
    """One count cell as an exact int, or the key of what is wrong with it (see ``_COUNT_PROBLEMS``).

    Text is read as a decimal (``"3"``, ``" ３ "``, ``"3.0"``, ``"1e3"``), never through int64 or a
    float, so ``99999999999999999999`` stays that number and is refused as too large instead of
    wrapping to a negative one.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None, "missing"
    if isinstance(value, (bool, np.bool_)):
        return None, "nan"
    if isinstance(value, (int, np.integer)):
        number = Decimal(int(value))
    elif isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return None, "infinite"
        number = Decimal(float(value))
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip().replace(" ", "")
        if not text:
            return None, "missing"
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None, "nan"
        if "_" in text:  # Decimal accepts "1_000"; a register cell with an underscore is not a count
            return None, "nan"
    if not number.is_finite():
        return None, "infinite"
    if number < 0:
        return None, "negative"
    if number != number.to_integral_value():
        return None, "fraction"
    if number > MAX_HOUSEHOLDS_PER_HOME:
        return None, "too_large"
    return int(number), None


def _count_column(df: pd.DataFrame, name: str, col: _Collector) -> None:
    """Counts must be present, numeric, finite, whole, ≥ 0 and ≤ the plausible maximum; reported per row.

    The column becomes float64 with NaN where the cell is bad (exact: every valid count is ≤ 2000).
    """
    raw = df[name]
    parsed = [parse_count(v) for v in raw]
    for key, message in _COUNT_PROBLEMS.items():
        col.add_rows([p[1] == key for p in parsed], raw, name, message)
    df[name] = pd.Series([np.nan if n is None else float(n) for n, _ in parsed], index=df.index, dtype="float64")


# ------------------------------------------------------------------------------------- coordinates

def _parse_crs(crs, col: _Collector):
    """The ``--crs`` value as a pyproj CRS; an unknown one is the user's error, naming the value."""
    from pyproj import CRS

    if crs is None:
        return None
    try:
        return CRS.from_user_input(crs)
    except Exception:
        col.add(None, "--crs", str(crs), "未知或无效的坐标系，例如 EPSG:4548（米）或 EPSG:4490（经纬度）"
                                         "(unknown or invalid CRS)")
        col.raise_if_any("坐标系无效 (invalid CRS)")


def _to_lonlat(x: np.ndarray, y: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude of points given in ``crs`` (x = easting or longitude); inf where it fails."""
    from pyproj import Transformer

    if crs.is_geographic:
        return np.asarray(x, float), np.asarray(y, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = Transformer.from_crs(crs, crs.geodetic_crs or "EPSG:4326", always_xy=True)
        lon, lat = t.transform(np.asarray(x, float), np.asarray(y, float), errcheck=False)
    return np.asarray(lon, float), np.asarray(lat, float)


def _in_area(lon: np.ndarray, lat: np.ndarray, crs) -> np.ndarray:
    """Whether each point lies in the bounding box of the CRS's area of use (finite everywhere if none)."""
    finite = np.isfinite(lon) & np.isfinite(lat)
    area = crs.area_of_use
    if area is None:
        return finite
    eps = 1e-9
    w, s, e, n = area.bounds
    in_lon = (lon >= w - eps) & (lon <= e + eps) if w <= e else (lon >= w - eps) | (lon <= e + eps)
    return finite & in_lon & (lat >= s - eps) & (lat <= n + eps)


def _km_from_yeji(lon: float, lat: float) -> float:
    from pyproj import Geod

    if not (np.isfinite(lon) and np.isfinite(lat) and abs(lat) <= 90):
        return float("inf")
    return Geod(ellps="GRS80").inv(YEJI_LONLAT[0], YEJI_LONLAT[1], lon, lat)[2] / 1000.0


def _median_km(x: np.ndarray, y: np.ndarray, crs) -> float:
    lon, lat = _to_lonlat(x, y, crs)
    ok = np.isfinite(lon) & np.isfinite(lat)
    return _km_from_yeji(float(np.median(lon[ok])), float(np.median(lat[ok]))) if ok.any() else float("inf")


def _crs_guesses(x: np.ndarray, y: np.ndarray) -> list[tuple[str, str]]:
    """CRSs that would put these coordinates near 叶集: (code, what the coordinates then are)."""
    from pyproj import CRS

    guesses = [(LONLAT_CRS, "经纬度 (lon/lat)"),
               (METRIC_CRS, "叶集一带的 CGCS2000 3度带米制坐标 (Gauss-Krüger metres, CM 117°E)")]
    zone = int(np.median(x) // 1_000_000) if np.isfinite(np.median(x)) else 0
    if 25 <= zone <= 45:  # an easting with the zone number in front, as surveyors write it (39 395 000)
        guesses.append((f"EPSG:{4488 + zone}", f"带号为 {zone} 的 3度带坐标 (Gauss-Krüger with zone prefix {zone})"))
    found = []
    for code, what in guesses:
        crs = CRS.from_user_input(code)
        lon, lat = _to_lonlat(x, y, crs)
        if _in_area(lon, lat, crs).all() and _median_km(x, y, crs) <= FAR_FROM_YEJI_KM:
            found.append((code, what))
    return found


def _likely_mistakes(x: np.ndarray, y: np.ndarray, crs, outside: bool = True) -> list[str]:
    """Name what probably went wrong with coordinates outside ``crs``'s area of use (``outside``) or,
    inside it, far from 叶集: x/y swapped, or another CRS that would put them near 叶集."""
    hints = []
    if crs is not None:
        lon, lat = _to_lonlat(y, x, crs)
        if _in_area(lon, lat, crs).all() and (outside or _median_km(y, x, crs) <= FAR_FROM_YEJI_KM):
            hints.append("x/y 可能填反：对调后落在坐标系适用范围内 (x/y swapped? lat/lon, or surveyors' X = north, Y = east)")
    declared = crs.to_string() if crs is not None else None
    for code, what in _crs_guesses(x, y):
        if code != declared:
            hints.append(f"坐标看起来是{what}，可试 --crs {code} (try --crs {code})")
    if not hints:
        for code, what in _crs_guesses(y, x):
            hints.append(f"x/y 可能填反，对调后像{what}，坐标系 {code} (x/y swapped? then {code})")
    if not hints and crs is None:
        from pyproj import CRS

        china = CRS.from_user_input(LONLAT_CRS)
        if _in_area(np.asarray(y, float), np.asarray(x, float), china).all():
            hints.append("x/y 可能填反：对调后是中国境内的经纬度 (x/y swapped? they read as lat/lon in China)")
    return hints


def _metric_crs_for(lon: np.ndarray, lat: np.ndarray) -> str:
    """The projected CRS lon/lat input is turned into: the CGCS2000 3-degree Gauss-Krüger zone of the
    register's median longitude (EPSG:4548, CM 117°E, for 叶集), or its UTM zone outside China."""
    from pyproj import CRS

    mid_lon, mid_lat = float(np.median(lon)), float(np.median(lat))
    central = 3 * round(mid_lon / 3)
    if central == 117:
        return METRIC_CRS
    china = CRS.from_user_input(LONLAT_CRS).area_of_use.bounds
    if 75 <= central <= 135 and china[1] <= mid_lat <= china[3]:
        return f"EPSG:{4534 + (central - 75) // 3}"  # CGCS2000 / 3-degree Gauss-Kruger CM {central}E
    zone = int((mid_lon + 180) // 6) % 60 + 1
    return f"EPSG:{(32600 if mid_lat >= 0 else 32700) + zone}"


def _xy_from_columns(df: pd.DataFrame, col: _Collector) -> tuple[np.ndarray, np.ndarray]:
    """x/y cells as floats (full-width digits and stray spaces tolerated); missing or non-finite named."""
    xs = {}
    for axis in ("x", "y"):
        raw = df[axis]
        text = raw.map(lambda v: unicodedata.normalize("NFKC", v).strip() if isinstance(v, str) else v)
        num = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = ~np.isfinite(num.to_numpy())
        col.add_rows(bad, raw, axis, "坐标缺失、不是数字或不是有限数 (coordinate missing, not a number or not finite)")
        xs[axis] = num.to_numpy()
    return xs["x"], xs["y"]


def _geometry(df: pd.DataFrame, crs: str | None, col: _Collector, lonlat_columns: bool) -> gpd.GeoDataFrame:
    """Points in a metric CRS from geometry or x/y, checked against the CRS's area of use.

    Lon/lat input is projected to the CGCS2000 Gauss-Krüger zone it lies in (EPSG:4548 near 叶集).
    Points outside the declared CRS's area of use are errors with the likely mistake named (x/y
    swapped, metres declared as degrees, a zone prefix); a register far from 叶集 gets a
    :class:`RegisterWarning`.
    """
    crs_obj = _parse_crs(crs, col)
    inferred = False
    if isinstance(df, gpd.GeoDataFrame) and df.geometry.name in df and df.geometry.notna().any():
        gdf = df
        if gdf.crs is None and crs_obj is None:
            col.add(None, "geometry", None, "文件未声明坐标系，请用 --crs 指明 (no CRS; state it with --crs)")
            col.raise_if_any()
        if crs_obj is not None:
            gdf = gdf.set_crs(crs_obj, allow_override=True)
        crs_obj = gdf.crs
        geom = gdf.geometry
        empty = geom.isna() | geom.is_empty
        col.add_rows(empty, None, "geometry", "缺少几何 (missing geometry)")
        invalid = ~empty & ~geom.is_valid
        col.add_rows(invalid, None, "geometry", "几何无效 (invalid geometry)")
        gdf = gdf.set_geometry(geom.where(empty | invalid, geom.representative_point()))
        usable = ~(empty | invalid).to_numpy()
        x = np.where(usable, gdf.geometry.x, np.nan)
        y = np.where(usable, gdf.geometry.y, np.nan)
        field = "geometry"
    else:
        absent = [axis for axis in ("x", "y") if axis not in df.columns]
        for axis in absent:
            col.add(None, axis, None, "缺少坐标列 x/y、经度/纬度或几何 (missing x/y or lon/lat columns or geometry)")
        if absent:
            col.raise_if_any()
        x, y = _xy_from_columns(df, col)
        usable = np.isfinite(x) & np.isfinite(y)
        field = "x/y"
        looks_lonlat = bool(np.all(np.abs(x[usable]) <= 180) and np.all(np.abs(y[usable]) <= 90))
        if lonlat_columns and crs_obj is not None and not crs_obj.is_geographic:
            col.add(None, "--crs", crs, "经度/纬度列需要地理坐标系，如 EPSG:4490 (lon/lat columns need a geographic CRS)")
            col.raise_if_any()
        if crs_obj is None and usable.any():
            if lonlat_columns or looks_lonlat:
                crs_obj = _parse_crs(LONLAT_CRS, col)
            else:
                hints = _likely_mistakes(x[usable], y[usable], None)
                if not any(h.startswith("x/y") for h in hints):
                    col.add(None, "x", None, "坐标为米制但未声明坐标系，请用 --crs 指明，例如 EPSG:4548 (metres need --crs)")
                for hint in hints:
                    col.add(None, "x/y", None, hint)
                col.raise_if_any()
            inferred = True
        gdf = gpd.GeoDataFrame(df.drop(columns=["geometry"], errors="ignore"),
                               geometry=gpd.points_from_xy(x, y), crs=crs_obj)
    if crs_obj is None or not usable.any():
        return gdf
    if not crs_obj.is_geographic and crs_obj.axis_info and crs_obj.axis_info[0].unit_name not in ("metre", "meter"):
        col.add(None, "--crs", str(crs_obj), "投影坐标系的单位不是米 (projected CRS must be in metres)")
        return gdf
    lon, lat = _to_lonlat(x, y, crs_obj)
    outside = usable & ~_in_area(lon, lat, crs_obj)
    if outside.any():
        name = crs_obj.to_string()
        w, s, e, n = crs_obj.area_of_use.bounds if crs_obj.area_of_use else (np.nan,) * 4
        shown = pd.Series([f"{a:.12g}, {b:.12g}" for a, b in zip(x, y)])
        col.add_rows(outside, shown, field, f"坐标超出坐标系 {name} 的适用范围 (outside the area of use of {name}: "
                     f"经度 lon {w:g}–{e:g}, 纬度 lat {s:g}–{n:g})", limit=_MAX_ROWS_PER_MESSAGE)
        hints = _likely_mistakes(x[outside], y[outside], crs_obj)
        if inferred and not hints:
            hints = [f"未写 --crs 时经纬度按 {LONLAT_CRS}（中国）读取；境外数据请用 --crs EPSG:4326 指明 "
                     f"(lon/lat without --crs are read as {LONLAT_CRS}, China; state --crs EPSG:4326 for elsewhere)"]
        for hint in hints:
            col.add(None, field, None, hint)
        return gdf
    if crs_obj.is_geographic:
        gdf = gdf.to_crs(_metric_crs_for(lon[usable], lat[usable]))
    px, py = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    col.add_rows(usable & ~(np.isfinite(px) & np.isfinite(py)), None, field,
                 "坐标无法投影为米制 (cannot project to metres)", limit=_MAX_ROWS_PER_MESSAGE)
    km = _km_from_yeji(float(np.median(lon[usable])), float(np.median(lat[usable])))
    if km > FAR_FROM_YEJI_KM:
        hints = [h for h in _likely_mistakes(x[usable], y[usable], crs_obj, outside=False) if h.startswith("x/y")]
        message = (f"住户中位位置距叶集约 {km:,.0f} km，超过 {FAR_FROM_YEJI_KM:g} km (register lies about {km:,.0f} km "
                   f"from 叶集 {YEJI_LONLAT[0]}°E {YEJI_LONLAT[1]}°N); 内置的村社边界、障碍与史河街道政策未必适用"
                   " (the embedded layers and the Shihe policy may not apply)")
        col.info.setdefault("warnings", []).append("；".join([message, *hints]))
    return gdf


def _skip_total_rows(df: pd.DataFrame, col: _Collector) -> pd.DataFrame:
    """Drop the 合计/小计 lines exports add (a cell reading 合计 and no home id of its own), with a warning.

    They are sums of the homes above them; kept, they would count those households twice.
    """
    def is_label(v) -> bool:
        return isinstance(v, str) and "".join(v.split()) in TOTAL_ROW_LABELS

    ids = df["home_id"]
    labelled = df.apply(lambda row: any(is_label(v) for v in row.to_numpy()), axis=1).to_numpy(bool)
    total = labelled & (ids.isna().to_numpy() | ids.map(is_label).to_numpy(bool))
    if not total.any():
        return df
    rows = np.asarray(col.rows if col.rows is not None else np.arange(1, len(df) + 1))
    where = [col.line_label.format(n=col.lines[i]) if col.lines is not None else f"行 row {rows[i]}"
             for i in np.flatnonzero(total)]
    col.info.setdefault("warnings", []).append(f"已跳过 {int(total.sum())} 行合计/小计 (skipped totals rows): "
                                               + "、".join(where[:10]) + ("…" if len(where) > 10 else ""))
    col.rows = [int(r) for r in rows[~total]]
    if col.lines is not None:
        col.lines = [line for line, t in zip(col.lines, total) if not t]
    return df.loc[~total].reset_index(drop=True)


def _final_mapping(mapping: dict[str, str], lonlat_columns: bool) -> dict[str, str]:
    """{header as written: column of the returned frame} for every header that was renamed."""
    if not lonlat_columns:
        return dict(mapping)
    final = {h: {"lon": "x", "lat": "y"}.get(f, f) for h, f in mapping.items()}
    for axis, to in (("lon", "x"), ("lat", "y")):
        if axis not in mapping.values():
            final[axis] = to
    return final


def read_homes(path: str | Path = SHIHE_GPKG, *, layer: str = "homes", crs: str | None = None) -> gpd.GeoDataFrame:
    """Read and validate a homes register; raise :class:`InputError` listing every bad row.

    ``layer`` names the GeoPackage layer or the workbook sheet (the default ``homes`` falls back to the
    first visible sheet of a workbook). Returns one row per home with the required columns as clean
    types, ``key_households`` (0 where absent or blank), optional ``group_id`` / ``current_grid_id`` /
    ``building`` / ``door``, and ``x``/``y`` in metres. ``attrs`` carries ``source``,
    ``header_mapping`` ({header as written: field}), ``read`` (encoding, separator, sheet, header line)
    and ``warnings`` (each also issued as a :class:`RegisterWarning`).
    """
    path = Path(path)
    col = _Collector(str(path), is_csv=path.suffix.lower() in TEXT_SUFFIXES)
    df = _read_table(path, layer, col, header_score=count_known_headers).reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    mapping, conflicts = map_headers(df.columns)
    for field, headers in conflicts.items():
        col.add(None, field, headers, "多列都对应同一字段，请只保留一列 (several columns mean the same field)")
    col.raise_if_any()
    df = df.rename(columns=mapping)
    col.headers = {f: h for h, f in mapping.items()}
    lonlat_columns = "x" not in df.columns and "y" not in df.columns and {"lon", "lat"} <= set(df.columns)
    if lonlat_columns:
        df = df.rename(columns={"lon": "x", "lat": "y"})
        col.headers.update({"x": col.headers.pop("lon", "lon"), "y": col.headers.pop("lat", "lat")})
    missing = [c for c in HOME_REQUIRED if c not in df.columns]
    for c in missing:
        col.add(None, c, None, "缺少必需列 (missing required column)")
    if missing and col.info.get("sheets"):
        col.add(None, None, col.info["sheet"], f"读取的工作表 (sheet read); 可用 (available): {col.info['sheets']}; "
                                               "用 --layer 指定 (name another with --layer)")
    col.raise_if_any()
    if len(df) == 0:
        col.add(None, None, None, "登记册没有任何住户 (register has no rows)")
        col.raise_if_any()

    df = _skip_total_rows(df, col)
    for name in ("home_id", "unit_id", "unit_type"):
        _text_column(df, name, col, required=True)
    for name in HOME_OPTIONAL_TEXT:
        if name in df.columns:
            _text_column(df, name, col, required=False)
    if "key_households" not in df.columns:
        df["key_households"] = 0
    else:  # optional: a blank cell means none, as the template says
        blank = df["key_households"].isna() | df["key_households"].astype(str).str.strip().eq("")
        df["key_households"] = df["key_households"].where(~blank, 0)
    for name in HOME_COUNTS:
        _count_column(df, name, col)

    ids = df["home_id"]
    dup = ids.notna() & ids.duplicated(keep="first")
    first_pos = {v: i for i, v in reversed(list(enumerate(ids)))}
    for pos in np.flatnonzero(dup.to_numpy()):
        first_row = col.rows[first_pos[ids.iat[pos]]] if col.rows is not None else first_pos[ids.iat[pos]] + 1
        col.add(pos, "home_id", ids.iat[pos], f"住户编号重复，首次出现在第 {first_row} 行 (duplicate id)")
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

    h, r, k = df["households"], df["resident_households"], df["key_households"]
    col.add_rows(h.notna() & r.notna() & (r > h), r, "resident_households",
                 "常住户数大于户数 (resident households exceed households)")
    col.add_rows(h.notna() & k.notna() & (k > h), k, "key_households",
                 "五必访户数大于户数 (key households exceed households)")

    gdf = _geometry(df, crs, col, lonlat_columns)
    col.raise_if_any("住户登记册校验失败 (homes register is invalid)")

    for name in HOME_COUNTS:
        gdf[name] = gdf[name].astype("int64")
    gdf["x"] = gdf.geometry.x
    gdf["y"] = gdf.geometry.y
    gdf.attrs["source"] = str(path)
    gdf.attrs["header_mapping"] = _final_mapping(mapping, lonlat_columns)
    gdf.attrs["read"] = {k: v for k, v in col.info.items() if k != "warnings"}
    gdf.attrs["warnings"] = list(col.info.get("warnings", []))
    for message in gdf.attrs["warnings"]:
        warnings.warn(message, RegisterWarning, stacklevel=2)
    order = [*HOME_REQUIRED, "key_households", *[c for c in HOME_OPTIONAL_TEXT if c in gdf.columns], "x", "y"]
    rest = [c for c in gdf.columns if c not in order and c != gdf.geometry.name]
    return gdf[order + rest + [gdf.geometry.name]]


def read_layer(name: str, path: str | Path = SHIHE_GPKG) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read one auxiliary layer of the embedded set (units, groups, current_grids, barriers)."""
    path = Path(path)
    col = _Collector(str(path), is_csv=False)
    return _read_table(path, name, col)


def read_cases(path: str | Path = SHIHE_GPKG, *, layer: str = "cases", policy=None) -> pd.DataFrame:
    """Read and validate platform cases: unique ids, dates, known levels, quality 0-100.

    A case whose category is not one of attachment 1's 12 items is kept, not refused: the note under
    attachment 1 says work outside the list "原则上可不参与" (in principle need not be joined), not that it is
    invalid. Such cases get ``in_service_list = False`` and a warning in ``attrs["warnings"]``."""
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
    in_list = df["category"].isin(codes)
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
    df["in_service_list"] = in_list.to_numpy()
    outside = df.loc[~in_list, "category"]
    df.attrs["source"] = str(path)
    df.attrs["warnings"] = [] if outside.empty else [
        f"注意：{path} 中 {len(outside)} 件办件的类别不在附件1准入清单内（{sorted(outside.unique())[:10]}），"
        f"已保留并标注 in_service_list=False；清单外事项“原则上可不参与” (cases outside attachment 1 kept and flagged)"]
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
