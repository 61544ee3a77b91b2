"""The deterministic generator of the embedded, synthetic 史河街道 data set.

Real registers are personal data and are not published, so the shipped ``data/shihe/shihe.gpkg`` is
made here from a fixed seed. It is built to behave like the real thing (see ``data/README.md`` for
every magnitude and why): 19 villages and communities around 叶集 in CGCS2000 / 3-degree
Gauss-Krüger CM 117E (EPSG:4548, metres); communities of multi-storey compounds with buildings of
12-200 flats and occupancy below 100 %; villages of hamlets (村民组) of 1-3-household houses where
migration keeps resident households well below registered ones; today's grids smaller than the 2024
rules allow; and a year of cases from the 无事找书记 platform.

``generate(seed)`` returns the layers in memory; ``write(out_dir)`` writes them. A test regenerates the
set and compares it with the shipped file, so any change here must be followed by ``make data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from .paths import SHIHE_DIR

SEED = 20240131
CRS = "EPSG:4548"  # CGCS2000 / 3-degree Gauss-Kruger CM 117E, metres
CENTER = (395_900.0, 3_525_750.0)  # about 115.9°E, 31.85°N (叶集)
YEAR = 2024


@dataclass(frozen=True)
class UnitSpec:
    unit_id: str
    name: str
    unit_type: str  # "village" | "community"
    named_in_plan: bool
    households: int  # target registered (planned) households


# The 16 units named in attachment 2 of the plan, plus 3 the plan does not name (marked as such).
UNITS: tuple[UnitSpec, ...] = (
    UnitSpec("wanfo", "万佛社区", "community", True, 2600),
    UnitSpec("donglou", "东楼社区", "community", True, 2300),
    UnitSpec("wafang", "瓦房社区", "community", True, 2100),
    UnitSpec("liulin", "柳林社区", "community", True, 2400),
    UnitSpec("xiaonanhai", "小南海社区", "community", True, 1900),
    UnitSpec("xinyuan", "新元社区", "community", True, 2800),
    UnitSpec("shunhe", "顺河社区", "community", True, 2000),
    UnitSpec("shengli", "胜利社区", "community", True, 2200),
    UnitSpec("synth_c1", "合成甲社区（方案未列）", "community", False, 1700),
    UnitSpec("synth_c2", "合成乙社区（方案未列）", "community", False, 1500),
    UnitSpec("shihewan", "史河湾村", "village", True, 1500),
    UnitSpec("pengzhou", "彭洲村", "village", True, 1300),
    UnitSpec("guanshan", "观山村", "village", True, 1600),
    UnitSpec("liushu", "柳树村", "village", True, 1200),
    UnitSpec("chapeng", "茶棚村", "village", True, 1400),
    UnitSpec("yenan", "叶南村", "village", True, 1100),
    UnitSpec("xinqiao", "新桥村", "village", True, 1350),
    UnitSpec("huayuan", "花园回民村", "village", True, 950),
    UnitSpec("synth_v1", "合成丙村（方案未列）", "village", False, 1000),
)

_COMPOUND_WORDS = ("阳光", "幸福", "锦绣", "翠苑", "金桂", "滨河", "东方", "怡景", "华府", "书香",
                   "丽景", "紫荆", "颐和", "康乐", "文昌", "和平", "新城", "枫林", "湖畔", "明珠")
_COMPOUND_SUFFIX = ("小区", "花园", "家园", "苑", "新村")

# Platform case categories (attachment 1 codes) and their relative frequency by unit type.
_CASE_MIX = {
    "community": {"civilized_city": 0.22, "safety_check": 0.18, "dispute_mediation": 0.16,
                  "basic_data": 0.14, "resident_visits": 0.1, "insurance_collection": 0.06,
                  "illegal_building": 0.05, "publicity": 0.04, "civilization_practice": 0.03,
                  "supervision": 0.02},
    "village": {"living_environment": 0.2, "straw_burning": 0.14, "safety_check": 0.14,
                "dispute_mediation": 0.16, "basic_data": 0.1, "resident_visits": 0.08,
                "insurance_collection": 0.07, "illegal_building": 0.05, "publicity": 0.03,
                "civilization_practice": 0.02, "supervision": 0.01},
}


def _region(rng: np.random.Generator) -> Polygon:
    """The subdistrict outline: a perturbed disc cut on the west by the 史河."""
    cx, cy = CENTER
    ang = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    rad = 6200 * (1 + 0.08 * np.sin(3 * ang + 0.7) + 0.04 * rng.standard_normal(ang.size))
    disc = Polygon(np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]))
    east_of_river = shapely.box(cx - 3600, cy - 8000, cx + 8000, cy + 8000)
    return disc.intersection(east_of_river)


def _river() -> LineString:
    cx, cy = CENTER
    ys = np.linspace(cy - 7000, cy + 7000, 29)
    xs = cx - 3650 + 120 * np.sin((ys - cy) / 1500.0)
    return LineString(np.column_stack([xs, ys]))


def _roads() -> list[LineString]:
    cx, cy = CENTER
    return [
        LineString([(cx - 3600, cy + 150), (cx + 6500, cy - 250)]),  # east-west trunk road
        LineString([(cx + 300, cy - 6500), (cx - 200, cy + 6500)]),  # north-south trunk road
    ]


def _unit_polygons(rng: np.random.Generator, region: Polygon) -> list[Polygon]:
    """Voronoi cells of unit seeds: communities in the town centre, villages on a ring outside."""
    cx, cy = CENTER
    n_comm = sum(u.unit_type == "community" for u in UNITS)
    n_vill = len(UNITS) - n_comm
    # communities: a jittered 5 x 2 block east of the river, around the centre
    comm = []
    for i in range(n_comm):
        gx, gy = i % 5, i // 5
        comm.append((cx - 1700 + gx * 850 + rng.normal(0, 90), cy - 500 + gy * 1000 + rng.normal(0, 90)))
    vill = []
    for i in range(n_vill):
        a = -np.pi / 2 + 2 * np.pi * i / n_vill + rng.normal(0, 0.08)
        r = 4300 + rng.normal(0, 300)
        x, y = cx + r * np.cos(a), cy + r * np.sin(a)
        x = max(x, cx - 3000)
        vill.append((x, y))
    seeds = MultiPoint(comm + vill)
    cells = shapely.voronoi_polygons(seeds, extend_to=region.buffer(3000))
    cells = list(cells.geoms)
    out = []
    for (x, y) in comm + vill:
        cell = next(c for c in cells if c.contains(Point(x, y)))
        out.append(shapely.set_precision(cell.intersection(region), 0.01))
    return out


def _avoid(points: np.ndarray, poly: Polygon, roads_buf) -> np.ndarray:
    inside = shapely.contains_xy(poly, points[:, 0], points[:, 1])
    clear = ~shapely.contains_xy(roads_buf, points[:, 0], points[:, 1])
    return inside & clear


def _community_homes(rng, spec: UnitSpec, poly: Polygon, roads_buf, used_names: set) -> tuple[list, list]:
    """Compounds (小区) of multi-storey buildings until the unit's planned households are reached."""
    homes, groups = [], []
    total, k = 0, 0
    inner = poly.buffer(-60)
    minx, miny, maxx, maxy = inner.bounds
    centres: list[tuple[float, float]] = []
    attempts = 0
    while total < spec.households and attempts < 5000:
        attempts += 1
        c = (rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if not inner.contains(Point(c)) or any(np.hypot(c[0] - a, c[1] - b) < 230 for a, b in centres):
            continue
        era = rng.choice(["old", "mid", "new"], p=[0.5, 0.32, 0.18])
        if era == "old":  # walk-up blocks of 4-6 storeys
            n_bld, flats, occ = rng.integers(10, 31), lambda: int(rng.choice([12, 18, 24, 30, 36])), rng.uniform(0.82, 0.95)
        elif era == "mid":  # 11-18 storey slabs
            n_bld, flats, occ = rng.integers(4, 11), lambda: int(rng.integers(44, 120)), rng.uniform(0.7, 0.9)
        else:  # recent high-rises, partly unsold or unoccupied
            n_bld, flats, occ = rng.integers(3, 8), lambda: int(rng.integers(100, 201)), rng.uniform(0.42, 0.75)
        ncol = int(np.ceil(np.sqrt(n_bld)))
        ang = rng.uniform(-0.3, 0.3)
        pts = []
        for b in range(int(n_bld)):
            dx, dy = (b % ncol) * 38.0, (b // ncol) * 34.0
            pts.append((c[0] + dx * np.cos(ang) - dy * np.sin(ang) + rng.normal(0, 3),
                        c[1] + dx * np.sin(ang) + dy * np.cos(ang) + rng.normal(0, 3)))
        pts = np.array(pts)
        ok = _avoid(pts, poly, roads_buf)
        if ok.sum() < 2:
            continue
        pts = pts[ok]
        centres.append(c)
        k += 1
        gid = f"{spec.unit_id}-xq{k:02d}"
        while True:
            name = str(rng.choice(_COMPOUND_WORDS)) + str(rng.choice(_COMPOUND_SUFFIX))
            if name not in used_names:
                used_names.add(name)
                break
        groups.append({"group_id": gid, "unit_id": spec.unit_id, "name": name, "group_type": "compound",
                       "era": str(era)})
        for b, (x, y) in enumerate(pts, start=1):
            hh = flats()
            res = int(rng.binomial(hh, occ))
            homes.append({"home_id": f"{gid}-b{b:02d}", "unit_id": spec.unit_id, "group_id": gid,
                          "households": hh, "resident_households": res, "x": x, "y": y})
            total += hh
    return homes, groups


def _village_homes(rng, spec: UnitSpec, poly: Polygon, roads_buf) -> tuple[list, list]:
    """Hamlets (村民组) of 1-3-household houses; migration leaves many households away."""
    homes, groups = [], []
    stay = rng.uniform(0.5, 0.72)  # share of registered households actually resident
    inner = poly.buffer(-150)
    minx, miny, maxx, maxy = inner.bounds
    centres: list[tuple[float, float]] = []
    total, k, attempts = 0, 0, 0
    while total < spec.households and attempts < 20000:
        attempts += 1
        c = (rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if not inner.contains(Point(c)) or any(np.hypot(c[0] - a, c[1] - b) < 420 for a, b in centres):
            continue
        centres.append(c)
        k += 1
        gid = f"{spec.unit_id}-z{k:02d}"
        groups.append({"group_id": gid, "unit_id": spec.unit_id, "name": f"{spec.name}第{k}村民组",
                       "group_type": "villager_group", "era": ""})
        target = int(rng.integers(45, 130))  # households in this group
        sigma = rng.uniform(55, 95)
        got, h = 0, 0
        tries = 0
        while got < target and tries < 2000:
            tries += 1
            x, y = c[0] + rng.normal(0, sigma), c[1] + rng.normal(0, sigma)
            if not _avoid(np.array([[x, y]]), poly, roads_buf)[0]:
                continue
            h += 1
            hh = int(rng.choice([1, 2, 3], p=[0.68, 0.24, 0.08]))
            res = int(rng.binomial(hh, stay))
            homes.append({"home_id": f"{gid}-h{h:03d}", "unit_id": spec.unit_id, "group_id": gid,
                          "households": hh, "resident_households": res, "x": x, "y": y})
            got += hh
        total += got
    return homes, groups


def _current_grids(rng, homes: pd.DataFrame) -> pd.Series:
    """Today's grids: chunks of a compound (~120-260 flats) or one 村民组 (~45-130 households).

    They are the plan's "区域小、办件少": most fall below the 2024 floors, which is why it asks for
    consolidation.
    """
    grid = pd.Series(index=homes.index, dtype=object)
    for unit_id, uh in homes.groupby("unit_id", sort=False):
        n = 0
        if uh["unit_type"].iat[0] == "village":
            for _, gh in uh.groupby("group_id", sort=True):
                n += 1
                grid.loc[gh.index] = f"{unit_id}-g{n:02d}"
            continue
        for _, gh in uh.groupby("group_id", sort=True):
            target = rng.integers(120, 260)
            acc, n = 0, n + 1
            for idx, hh in zip(gh.index, gh["households"]):
                if acc > 0 and acc + hh > target + 40:
                    n, acc, target = n + 1, 0, rng.integers(120, 260)
                grid.loc[idx] = f"{unit_id}-g{n:02d}"
                acc += hh
    return grid


def _key_households(rng, homes: pd.DataFrame) -> np.ndarray:
    """五必访 households among the resident ones: ~10 % in villages (left-behind elderly), ~5 % in towns."""
    p = np.where(homes["unit_type"].eq("village"), 0.11, 0.05)
    return rng.binomial(homes["resident_households"].to_numpy(), p)


def _cases(rng, homes: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """A year of platform cases per current grid, ~1.6 per 100 households a month."""
    rows = []
    days = pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-31", freq="D")
    utype = units.set_index("unit_id")["unit_type"]
    grids = homes.groupby("current_grid_id").agg(unit_id=("unit_id", "first"), households=("households", "sum"),
                                                 resident=("resident_households", "sum"))
    for grid_id, g in grids.sort_index().iterrows():
        ut = utype[g["unit_id"]]
        mix = _CASE_MIX[ut]
        cats, probs = list(mix), np.array(list(mix.values()))
        probs = probs / probs.sum()
        skill = rng.normal(0, 1)  # a worker's diligence: lower means later and worse cases
        lam = 1.6 * g["resident"] / 100 * rng.lognormal(0, 0.3) * 12
        n = rng.poisson(lam)
        if n == 0:
            continue
        d = np.sort(rng.choice(len(days), size=n))
        level = rng.choice(["grid", "unit", "subdistrict"], size=n, p=[0.78, 0.18, 0.04])
        on_time = rng.random(n) < np.clip(0.9 + 0.04 * skill, 0.6, 0.99)
        quality = np.clip(rng.normal(85 + 4 * skill, 8, size=n), 30, 100).round(0)
        cat = rng.choice(cats, size=n, p=probs)
        for i in range(n):
            rows.append((grid_id, g["unit_id"], days[d[i]].date().isoformat(), cat[i], level[i],
                         bool(on_time[i]), float(quality[i])))
    cases = pd.DataFrame(rows, columns=["grid_id", "unit_id", "date", "category", "level", "on_time", "quality"])
    cases = cases.sort_values(["date", "grid_id"], kind="stable").reset_index(drop=True)
    cases.insert(0, "case_id", [f"C{YEAR}{i:06d}" for i in range(1, len(cases) + 1)])
    return cases


def generate(seed: int = SEED) -> dict[str, pd.DataFrame]:
    """All layers of the embedded data set, made from ``seed``; same seed, same data."""
    rng = np.random.default_rng(seed)
    region = _region(rng)
    polys = _unit_polygons(rng, region)
    roads = _roads()
    roads_buf = shapely.union_all([r.buffer(18) for r in roads])
    units = gpd.GeoDataFrame(
        {
            "unit_id": [u.unit_id for u in UNITS],
            "name": [u.name for u in UNITS],
            "unit_type": [u.unit_type for u in UNITS],
            "named_in_plan": [u.named_in_plan for u in UNITS],
        },
        geometry=polys,
        crs=CRS,
    )
    homes_rows, group_rows = [], []
    used_names: set[str] = set()
    for spec, poly in zip(UNITS, polys):
        if spec.unit_type == "community":
            h, g = _community_homes(rng, spec, poly, roads_buf, used_names)
        else:
            h, g = _village_homes(rng, spec, poly, roads_buf)
        homes_rows += h
        group_rows += g
    homes = pd.DataFrame(homes_rows)
    homes.insert(2, "unit_type", homes["unit_id"].map(units.set_index("unit_id")["unit_type"]))
    homes["x"] = homes["x"].round(2)
    homes["y"] = homes["y"].round(2)
    homes["key_households"] = _key_households(rng, homes)
    homes["current_grid_id"] = _current_grids(rng, homes).astype(str)
    homes = gpd.GeoDataFrame(
        homes[["home_id", "unit_id", "unit_type", "group_id", "households", "resident_households",
               "key_households", "current_grid_id", "x", "y"]],
        geometry=gpd.points_from_xy(homes["x"], homes["y"]),
        crs=CRS,
    ).drop(columns=["x", "y"])

    groups = pd.DataFrame(group_rows)
    hulls = homes.groupby("group_id").geometry.apply(lambda s: shapely.convex_hull(shapely.union_all(s.values)).buffer(25))
    groups = gpd.GeoDataFrame(groups, geometry=groups["group_id"].map(hulls).values, crs=CRS)

    grid_hulls = homes.groupby("current_grid_id").agg(unit_id=("unit_id", "first"))
    grid_hulls["geometry"] = homes.groupby("current_grid_id").geometry.apply(
        lambda s: shapely.convex_hull(shapely.union_all(s.values)).buffer(20))
    current_grids = gpd.GeoDataFrame(grid_hulls.reset_index().rename(columns={"current_grid_id": "grid_id"}),
                                     geometry="geometry", crs=CRS)

    barriers = gpd.GeoDataFrame(
        {"barrier_id": ["river_shihe", "road_ew", "road_ns"], "name": ["史河", "东西向主干道", "南北向主干道"],
         "kind": ["river", "road", "road"]},
        geometry=[_river()] + roads,
        crs=CRS,
    )
    cases = _cases(rng, homes, units)
    return {"units": units, "homes": homes, "groups": groups, "current_grids": current_grids,
            "barriers": barriers, "cases": cases}


LAYER_ORDER = ("units", "homes", "groups", "current_grids", "barriers", "cases")


def write(out_dir: str | Path = SHIHE_DIR, seed: int = SEED) -> Path:
    """Generate the set and write ``shihe.gpkg`` (all layers; ``cases`` has no geometry)."""
    import pyogrio

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "shihe.gpkg"
    tmp = out_dir / "shihe.tmp.gpkg"
    if tmp.exists():
        tmp.unlink()
    layers = generate(seed)
    for name in LAYER_ORDER:
        df = layers[name]
        if isinstance(df, gpd.GeoDataFrame):
            df.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        else:
            pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG")
    tmp.replace(path)
    return path
