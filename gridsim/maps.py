"""Static maps of units and grids for the notebooks and reports (geopandas + matplotlib, no tiles).

A grid is a set of homes, not a polygon, so to draw any plan (today's map, an optimized plan, an edited
one) the same way each home gets the part of its unit closest to it (its Voronoi cell clipped to the unit
polygon) and a grid's area is the union of its homes' cells. Today's map is drawn the same way from the
homes' ``current_grid_id`` (not from the shipped ``current_grids`` polygons), so before/after maps are
comparable.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import geopandas as gpd
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely

from .plotting import STATUS_COLOURS, UNIT_TYPE_COLOURS, UNIT_TYPE_ZH, use_chinese_font


def home_cells(homes: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Each home's Voronoi cell clipped to its unit polygon, indexed like ``homes``.

    Homes at the same spot share one cell (each gets a copy); a unit with one home gets the whole unit.
    """
    cells = pd.Series(index=homes.index, dtype=object)
    unit_geom = units.set_index("unit_id").geometry
    for unit_id, part in homes.groupby("unit_id"):
        poly = unit_geom.get(unit_id)
        pts = part.geometry.values
        if poly is None or poly.is_empty:
            poly = shapely.convex_hull(shapely.union_all(pts)).buffer(50)
        if len(part) == 1:
            cells[part.index] = [poly]
            continue
        multi = shapely.multipoints(pts)
        vor = shapely.get_parts(shapely.voronoi_polygons(multi, extend_to=poly.envelope.buffer(100)))
        # Match cells to homes by containment (robust to duplicate points, which share a cell).
        tree = shapely.STRtree(vor)
        home_pos, cell_pos = tree.query(pts, predicate="intersects")
        first = pd.Series(cell_pos, index=home_pos).groupby(level=0).first()
        clipped = shapely.intersection(vor[first.to_numpy()], poly)
        cells[part.index[first.index.to_numpy()]] = list(clipped)
    return gpd.GeoSeries(cells, crs=homes.crs)


AREAS_MEMO = 16
"""Grid outlines remembered (least recently used dropped): a report kernel draws today's map and the same
plans on page after page (budget, assessment and partition pages of scenarios sharing a plan), and the
union of ~8,000 cells took a third of a second each time."""
_areas: OrderedDict[str, gpd.GeoDataFrame] = OrderedDict()

_AREA_COLUMNS = ["unit_id", "unit_type", "households", "resident_households"]


def _areas_key(homes: gpd.GeoDataFrame, grid_ids: np.ndarray, cells: gpd.GeoSeries) -> str:
    """Everything :func:`grid_areas` reads: the homes' index, units and counts, the grid ids, the cells' shapes."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(homes[_AREA_COLUMNS], index=True).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(pd.Series(grid_ids, dtype=object), index=False).to_numpy().tobytes())
    h.update(str(homes.crs).encode())
    for wkb in shapely.to_wkb(np.asarray(cells.to_numpy(), dtype=object)):
        h.update(b"-" if wkb is None else wkb)
    return h.hexdigest()


def grid_areas(homes: gpd.GeoDataFrame, assignment: pd.Series, units: gpd.GeoDataFrame,
               cells: gpd.GeoSeries | None = None) -> gpd.GeoDataFrame:
    """One polygon per grid of ``assignment`` (home index -> grid id): the union of its homes' cells
    (remembered for the same inputs: :data:`AREAS_MEMO`; each call gets its own copy)."""
    if cells is None:
        cells = home_cells(homes, units)
    cells = cells.reindex(homes.index)
    grid_ids = assignment.reindex(homes.index).to_numpy()
    key = _areas_key(homes, grid_ids, cells)
    if key in _areas:
        _areas.move_to_end(key)
        return _areas[key].copy()
    frame = gpd.GeoDataFrame(
        {"grid_id": grid_ids, "unit_id": homes["unit_id"].to_numpy(),
         "unit_type": homes["unit_type"].to_numpy(), "households": homes["households"].to_numpy(),
         "resident_households": homes["resident_households"].to_numpy()},
        geometry=cells.to_numpy(), crs=homes.crs,
    )
    areas = frame.dissolve(by="grid_id", aggfunc={"unit_id": "first", "unit_type": "first",
                                                  "households": "sum", "resident_households": "sum"}).reset_index()
    _areas[key] = areas
    while len(_areas) > AREAS_MEMO:
        _areas.popitem(last=False)
    return areas.copy()


def _fill(ax: plt.Axes, geoms, *, facecolor="none", edgecolor="#333333", linewidth: float = 0.4,
          alpha: float | None = None, values=None, cmap: str = "YlOrRd", vmin: float = 0.0,
          vmax: float | None = None):
    """Draw (multi)polygons as one matplotlib collection; ``values`` shade them on ``cmap`` instead.

    Drawing with matplotlib directly (not ``GeoDataFrame.plot``, which redraws the whole figure each call)
    keeps the 19 per-unit maps of the partition notebook fast.
    """
    from matplotlib.collections import PatchCollection
    from shapely.plotting import patch_from_polygon

    patches, owner = [], []
    for k, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        for part in shapely.get_parts(geom):
            if part.geom_type == "Polygon" and not part.is_empty:
                patches.append(patch_from_polygon(part))
                owner.append(k)
    coll = PatchCollection(patches, edgecolor=edgecolor, linewidth=linewidth, alpha=alpha)
    owner = np.asarray(owner, dtype=int)
    if values is not None:
        coll.set_array(np.asarray(values, dtype=float)[owner])
        coll.set_cmap(cmap)
        coll.set_clim(vmin, vmax)
    elif isinstance(facecolor, (str, tuple)):  # one colour for all; a list gives one per geometry
        coll.set_facecolor(facecolor)
    else:
        coll.set_facecolor([facecolor[k] for k in owner])
    ax.add_collection(coll, autolim=True)
    ax.autoscale_view()
    return coll


def neighbour_colours(areas: gpd.GeoDataFrame) -> np.ndarray:
    """A colour index per area such that touching areas differ (greedy graph colouring, few colours)."""
    import networkx as nx

    geoms = areas.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    graph = nx.Graph()
    graph.add_nodes_from(range(len(geoms)))
    graph.add_edges_from((a, b) for a, b in zip(left, right) if a < b)
    colour = nx.greedy_color(graph, strategy="largest_first")
    return np.array([colour[i] for i in range(len(geoms))], dtype=int)


def _label_units(ax: plt.Axes, units: gpd.GeoDataFrame) -> None:
    for _, row in units.iterrows():
        p = row.geometry.representative_point()
        name = str(row["name"]).replace("（", "\n（", 1)  # long names (e.g. 方案未列 notes) on two lines
        ax.annotate(name, (p.x, p.y), ha="center", va="center", fontsize=7,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7))


def _finish(ax: plt.Axes, title: str) -> None:
    ax.set_title(title)
    ax.set_axis_off()
    ax.set_aspect("equal")


def units_map(units: gpd.GeoDataFrame, homes: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame | None = None,
              *, ax: plt.Axes | None = None, title: str = "19个村（社）与住户分布") -> plt.Figure:
    """The subdistrict's units coloured by type, homes as dots sized by households, rivers and roads."""
    use_chinese_font()
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 9), constrained_layout=True)
    else:
        fig = ax.figure
    for utype, colour in UNIT_TYPE_COLOURS.items():
        sel = units[units["unit_type"] == utype]
        _fill(ax, sel.geometry, facecolor=matplotlib.colors.to_rgba(colour, 0.18), edgecolor=colour, linewidth=1.2)
    ax.scatter(homes["x"], homes["y"], s=np.clip(homes["households"], 1, 60) * 0.6, color="#333333",
               alpha=0.5, linewidths=0)
    if barriers is not None and len(barriers):
        for kind, style in (("river", dict(color="#3A7DC9", lw=2.5)), ("road", dict(color="#8C6D31", lw=1.5, ls="--"))):
            sel = barriers[barriers["kind"] == kind]
            for line in shapely.get_parts(sel.geometry.to_numpy()):
                x, y = line.xy
                ax.plot(x, y, **style)
    _label_units(ax, units)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=c, alpha=0.4, label=f"{UNIT_TYPE_ZH[k]} {k}") for k, c in UNIT_TYPE_COLOURS.items()]
    handles += [Line2D([], [], marker="o", ls="", color="#333333", label="住户（点大小=户数）homes"),
                Line2D([], [], color="#3A7DC9", lw=2.5, label="河流 river"),
                Line2D([], [], color="#8C6D31", lw=1.5, ls="--", label="道路 road")]
    ax.legend(handles=handles, loc="lower left", fontsize=8)
    _finish(ax, title)
    return fig


def grids_map(areas: gpd.GeoDataFrame, units: gpd.GeoDataFrame, *, status: pd.Series | None = None,
              values: pd.Series | None = None, value_label: str = "", vmax: float | None = None,
              ax: plt.Axes | None = None, title: str = "", label_units: bool = True) -> plt.Figure:
    """Grids as outlined areas inside their units.

    By default grids get pastel colours such that neighbours differ; with ``status`` (grid id -> True
    when the grid breaks a rule) breaking grids are red, the others green; with ``values`` (grid id ->
    number, e.g. monthly base pay) grids are shaded on one colour scale from 0 to ``vmax``, with a colour bar.
    """
    use_chinese_font()
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 9), constrained_layout=True)
    else:
        fig = ax.figure
    if values is not None:
        shade = areas["grid_id"].map(values).astype(float)
        top = vmax if vmax is not None else float(np.nanmax(shade))
        coll = _fill(ax, areas.geometry, values=shade.to_numpy(), vmax=top)
        fig.colorbar(coll, ax=ax, label=value_label, shrink=0.6, orientation="horizontal", pad=0.02)
    elif status is None:
        colours = plt.get_cmap("Pastel1").colors
        _fill(ax, areas.geometry, facecolor=[colours[c % len(colours)] for c in neighbour_colours(areas)],
              edgecolor="#555555")
    else:
        bad = areas["grid_id"].map(status).fillna(False).astype(bool)
        _fill(ax, areas.geometry, alpha=0.6,
              facecolor=list(np.where(bad, STATUS_COLOURS["violation"], STATUS_COLOURS["ok"])))
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=STATUS_COLOURS["violation"], alpha=0.6, label=f"不符合新规则 breaks rules（{int(bad.sum())}）"),
                           Patch(color=STATUS_COLOURS["ok"], alpha=0.6, label=f"符合 meets rules（{int((~bad).sum())}）")],
                  loc="lower left", fontsize=8)
    _fill(ax, units.geometry, edgecolor="black", linewidth=1.2)
    if label_units:
        _label_units(ax, units)
    _finish(ax, title)
    return fig


def before_after_map(homes: gpd.GeoDataFrame, before: pd.Series, after: pd.Series, units: gpd.GeoDataFrame,
                     *, unit_id: str | None = None, cells: gpd.GeoSeries | None = None,
                     titles: tuple[str, str] = ("现状网格 today", "优化方案 optimized"),
                     values: tuple[pd.Series, pd.Series] | None = None, value_label: str = "") -> plt.Figure:
    """Two maps side by side, one plan each, for one unit (``unit_id``) or the whole subdistrict.

    ``values``: a number per grid for each plan (grid id -> value), shaded on one shared scale.
    """
    use_chinese_font()
    if unit_id is not None:
        mask = homes["unit_id"] == unit_id
        homes, units = homes[mask], units[units["unit_id"] == unit_id]
        before, after = before[mask], after[mask]
        if cells is not None:
            cells = cells[mask]
    if cells is None:
        cells = home_cells(homes, units)
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.5), constrained_layout=True)
    vmax = max(float(v.max()) for v in values) if values is not None else None
    for k, (ax, plan, title) in enumerate(zip(axes, (before, after), titles)):
        areas = grid_areas(homes, plan, units, cells)
        grids_map(areas, units, ax=ax, title=f"{title}：{len(areas)} 个网格", label_units=unit_id is None,
                  values=values[k] if values is not None else None, value_label=value_label, vmax=vmax)
        if unit_id is not None:
            ax.scatter(homes["x"], homes["y"], s=np.clip(homes["households"], 1, 60) * 0.5, color="#333333",
                       alpha=0.5, linewidths=0)
    if unit_id is not None and len(units):
        fig.suptitle(f"{units['name'].iloc[0]}（{unit_id}）")
    return fig


def before_after_images(homes: gpd.GeoDataFrame, before: pd.Series, after: pd.Series, units: gpd.GeoDataFrame,
                        unit_ids: list[str | None], *, cells: gpd.GeoSeries, cache_dir: str = "") -> list[bytes]:
    """:func:`before_after_map` for each of ``unit_ids`` (None: the whole subdistrict) as PNG bytes, drawn once
    per inputs when ``cache_dir`` is a report's result cache (:func:`gridsim.result_cache.stored_png`): the
    partition page draws ~20 such maps, the same again for a scenario with the same plan."""
    from .result_cache import inputs_digest, stored_png

    drawn = inputs_digest(homes, before, after, units, cells) if cache_dir else ""
    return [stored_png(cache_dir, "before-after", {"inputs": drawn, "unit": unit_id},
                       lambda unit_id=unit_id: before_after_map(homes, before, after, units, unit_id=unit_id,
                                                                cells=cells))
            for unit_id in unit_ids]
