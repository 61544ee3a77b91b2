"""What a report page reads: the embedded data set, or the user's register and their own geography.

Every notebook of the suite starts with :func:`load_inputs` on its parameters (``homes_path``,
``units_path``, ``barriers_path``, ``cases_path``, ``current``), so ``gridsim report --homes REGISTER``
runs the whole suite on a subdistrict's own data:

* ``homes_path`` empty: the embedded synthetic 史河 set (homes, units, groups, barriers, cases).
* ``homes_path`` given: the register read with :func:`gridsim.registers.read_homes`; units from
  ``units_path`` (:func:`gridsim.geography.read_units`, every home checked to lie in its unit) or else
  an outline drawn round each unit's homes (convex hull plus a margin) and named by its id; barriers from
  ``barriers_path`` (:func:`gridsim.geography.read_barriers`), else the register's own ``barriers`` layer
  when it is a GeoPackage with one, else none; 村民组/小区 from the register's ``group_id`` (named by id);
  cases from ``cases_path`` (:func:`gridsim.registers.read_cases`), else none (the model's own case
  draws). Nothing of the embedded set is read, so no embedded name or outline can leak into a page.
* ``current``: the column holding today's grids (default ``current_grid_id`` when present); it is
  copied to ``current_grid_id``, the column the pages draw today's map from.

:func:`missing_inputs` says which of a page's declared needs (notebook metadata ``gridsim.needs``) the
inputs do not meet, so the runner can skip that page and say why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .errors import InputError, Problem

HULL_MARGIN_M = 60.0  # the drawn outline of a unit keeps this far from its outermost homes
CURRENT = "current_grid_id"

#: what a page may need, and the reason given when a page is skipped for the lack of it
NEEDS = {
    "current": "登记册没有现网格列（可用 --current 指明）(the register has no column with today's grids; name it with --current)",
    "cases": "没有办件数据（可用 --cases 提供）(no cases file; give one with --cases)",
    "units": "没有村社边界文件（可用 --units 提供）(no units file; give one with --units)",
}


@dataclass
class ReportInputs:
    """The data one page works on; ``embedded`` says whether it is the shipped synthetic set."""

    homes: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    groups: pd.DataFrame
    cases: pd.DataFrame | None
    embedded: bool
    units_drawn: bool  # outlines drawn round the homes (no units file)
    notes: list[str] = field(default_factory=list)

    @property
    def has_current(self) -> bool:
        return CURRENT in self.homes.columns and self.homes[CURRENT].notna().any()

    @property
    def unit_names(self) -> dict[str, str]:
        return dict(zip(self.units["unit_id"], self.units["name"]))

    def units_line(self) -> str:
        """The area the data covers, counted and named from the data itself (the embedded set is 史河街道's;
        a user's register names no place): how many units of each type, and their names."""
        kinds = self.units["unit_type"].value_counts()
        place = "史河街道" if self.embedded else "本登记册 this register"
        names = "、".join(self.units.sort_values(["unit_type", "unit_id"])["name"].astype(str))
        return (f"{place}：{len(self.units)} 个村（社区）units——{int(kinds.get('community', 0))} 个社区 communities、"
                f"{int(kinds.get('village', 0))} 个村 villages：{names}")

    def describe(self) -> str:
        """One line for the top of a page: where the data came from."""
        if self.embedded:
            return "数据 data：内置合成数据 (embedded synthetic set)"
        src = self.homes.attrs.get("source", "")
        units = "由住户范围绘出 (drawn round the homes)" if self.units_drawn else self.units.attrs.get("source", "")
        return (f"数据 data：{src}（{len(self.homes)} 处住房 homes，{self.homes['unit_id'].nunique()} 个村社 units）；"
                f"村社边界 units：{units}；办件 cases：{self.cases.attrs.get('source', '') if self.cases is not None else '无 none'}")


def drawn_units(homes: gpd.GeoDataFrame, margin: float = HULL_MARGIN_M) -> gpd.GeoDataFrame:
    """An outline per unit round its homes (convex hull grown by ``margin`` metres), named by its id."""
    rows = []
    for unit_id, sub in homes.groupby("unit_id", sort=True):
        hull = sub.geometry.union_all().convex_hull.buffer(margin)
        rows.append({"unit_id": unit_id, "name": unit_id, "unit_type": sub["unit_type"].iloc[0], "geometry": hull})
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=homes.crs)
    out.attrs["source"] = "drawn"
    return out


def _named_units(units: gpd.GeoDataFrame, homes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The user's unit polygons with the columns the maps use: ``name`` (= id) and ``unit_type`` (from the register)."""
    types = homes.groupby("unit_id")["unit_type"].first()
    out = units[units["unit_id"].isin(types.index)].copy()
    out["name"] = out["unit_id"]
    out["unit_type"] = out["unit_id"].map(types)
    out.attrs["source"] = units.attrs.get("source", "")
    return out[["unit_id", "name", "unit_type", "geometry"]]


def _groups_of(homes: pd.DataFrame) -> pd.DataFrame:
    if "group_id" not in homes.columns:
        return pd.DataFrame(columns=["group_id", "unit_id", "name"])
    g = homes.dropna(subset=["group_id"]).groupby("group_id", sort=True)["unit_id"].first().reset_index()
    g["name"] = g["group_id"]
    return g


def _register_barriers(path: Path) -> gpd.GeoDataFrame | None:
    """The ``barriers`` layer of a GeoPackage register, if it has one."""
    if path.suffix.lower() != ".gpkg":
        return None
    import pyogrio

    from .registers import read_layer

    if "barriers" not in [name for name, _ in pyogrio.list_layers(path)]:
        return None
    return read_layer("barriers", path)


#: the inputs last read in this process and what they were read from (see :func:`load_inputs`)
_LAST: dict = {}


def _stamp(paths) -> tuple:
    """Each file as (path, hash of its bytes): a file changed on disk gives another stamp, however quickly
    it was rewritten (a modification time can repeat within the file system's tick)."""
    out = []
    for p in paths:
        p = Path(p)
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                out.append((str(f.resolve()), hashlib.blake2b(f.read_bytes(), digest_size=16).hexdigest()))
    return tuple(out)


def _copy(inputs: ReportInputs) -> ReportInputs:
    frames = {k: getattr(inputs, k).copy() for k in ("homes", "units", "barriers", "groups")}
    return replace(inputs, **frames, cases=None if inputs.cases is None else inputs.cases.copy(),
                   notes=list(inputs.notes))


def load_inputs(homes_path: str = "", *, units_path: str = "", barriers_path: str = "", cases_path: str = "",
                current: str = "", crs: str | None = None) -> ReportInputs:
    """The page's data; see the module docstring. Bad files raise :class:`~gridsim.errors.InputError`.

    A report runs page after page in one kept kernel (:class:`gridsim.report.WarmKernel`), each page
    reading the same files: the last inputs read are kept with a stamp of every file they came from (the
    given files, the embedded data set and the policy files the cases are checked against), and a page
    asking for the same files, with the same bytes, gets a copy of them (about 1.3 s saved a page) — a copy,
    so that no page sees what another page changed.
    """
    from .paths import POLICY_DIR, SHIHE_GPKG

    args = (homes_path, units_path, barriers_path, cases_path, current, crs)
    key = (args, _stamp([f for f in (homes_path, units_path, barriers_path, cases_path) if f] + [SHIHE_GPKG, POLICY_DIR]))
    if _LAST.get("key") != key:
        _LAST.clear()
        _LAST.update(key=key, inputs=_read_inputs(*args))
    return _copy(_LAST["inputs"])


def _read_inputs(homes_path: str, units_path: str, barriers_path: str, cases_path: str, current: str,
                 crs: str | None) -> ReportInputs:
    from .geography import check_homes_in_units, read_barriers, read_units
    from .paths import SHIHE_GPKG
    from .registers import read_cases, read_homes, read_layer

    if not homes_path:
        if units_path or barriers_path or cases_path:
            raise InputError("--units/--barriers/--cases", [Problem("--homes", None, "homes_path", None,
                             "给出村社边界、障碍或办件文件时须同时给出住户登记册 (these need --homes)")])
        homes = read_homes(SHIHE_GPKG)
        homes = _with_current(homes, current)
        return ReportInputs(homes, read_layer("units"), read_layer("barriers"), read_layer("groups"), read_cases(),
                            embedded=True, units_drawn=False)
    homes = _with_current(read_homes(homes_path, crs=crs or None), current)
    if units_path:
        units = _named_units(read_units(units_path, homes.crs), homes)
        check_homes_in_units(homes, units)
    else:
        units = drawn_units(homes)
    if barriers_path:
        barriers = read_barriers(barriers_path, homes.crs)
    else:
        barriers = _register_barriers(Path(homes_path))
    if barriers is None:
        barriers = gpd.GeoDataFrame({"kind": pd.Series([], dtype=object)}, geometry=[], crs=homes.crs)
    cases = read_cases(cases_path) if cases_path else None
    return ReportInputs(homes, units, barriers, _groups_of(homes), cases, embedded=False,
                        units_drawn=not units_path)


def _with_current(homes: gpd.GeoDataFrame, current: str) -> gpd.GeoDataFrame:
    """``homes`` with today's grids in ``current_grid_id`` (copied from ``current`` when that names another column)."""
    if not current or current == CURRENT:
        return homes
    if current not in homes.columns:
        src = str(homes.attrs.get("source", "homes"))
        raise InputError(src, [Problem(src, None, current, None,
                                       "--current 指定的现网格列不存在 (the --current column is not in the register)")],
                         headline="现网格列缺失 (current-grid column missing)")
    out = homes.copy()
    out[CURRENT] = out[current]
    out.attrs.update(homes.attrs)
    return out


def missing_inputs(needs, *, has_current: bool, has_cases: bool, has_units: bool) -> list[str]:
    """The reasons (from :data:`NEEDS`) a page declaring ``needs`` cannot be made from these inputs."""
    have = {"current": has_current, "cases": has_cases, "units": has_units}
    return [NEEDS[n] for n in needs if n in have and not have[n]]
