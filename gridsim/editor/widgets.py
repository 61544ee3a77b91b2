"""The editor app: an ipyleaflet map and ipywidgets controls over :class:`~gridsim.editor.model.EditorModel`.

All decisions live in the model; this module only draws it and forwards clicks. It works offline: the
map has no tile layer unless ``tiles=True`` (then OpenStreetMap tiles are added, which needs internet).
Homes are circle markers coloured by grid (one GeoJSON layer, so a move re-sends one layer, not a
thousand widgets), grid outlines are the dissolved Voronoi cells of their homes, and a table shows each
grid's counts and rule status. Click a home to add it to (or take it out of) the selection, or draw a
polygon or rectangle to select the homes inside it; pick a target grid and the preview shows what the
move would do before you make it.

Widgets carry CSS classes (``gs-*``) and map features carry ``gs-home-<home_id>`` classes so the
browser tests (``tests/ui``) can find them reliably.
"""

from __future__ import annotations

import functools
import html
import math
import traceback
from pathlib import Path

import ipyleaflet as L
import ipywidgets as W
import numpy as np
import shapely

from ..errors import GridsimError
from ..paths import REPORT_DIR
from .model import NEW_GRID, EditorModel, MoveCheck

#: distinct colours for the grids of one unit (a unit has at most a few dozen grids)
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#393b79", "#e6550d", "#31a354", "#756bb1", "#843c39", "#3182bd", "#de9ed6", "#637939",
    "#a55194", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#e7969c",
)
MAP_SIZE_PX = (760, 560)

CSS = """
<style>
.gs-app { font-size: 13px; }
.gs-table { border-collapse: collapse; font-size: 12px; }
.gs-table th, .gs-table td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
.gs-table th { background: #f2f2f2; }
.gs-table td.gs-id, .gs-table td.gs-status { text-align: left; }
.gs-bad { color: #b00020; }
.gs-good { color: #1b7f2a; }
.gs-swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle;
             border: 1px solid #333; }
.gs-note { color: #555; }
</style>
"""


def data_title(model: EditorModel) -> str:
    """What the editor has open, from the data: the register (the embedded set is 史河街道's) and its unit count."""
    from ..paths import SHIHE_GPKG

    source = str(model.homes.attrs.get("source", ""))
    embedded = bool(source) and Path(source).resolve() == SHIHE_GPKG.resolve()
    place = "史河街道" if embedded else (Path(source).name or "登记册 register")
    return f"{place}，{len(model.unit_ids)} 个村社 units"


def app_characters(model: EditorModel) -> str:
    """Every non-ASCII character the app can show: the package's own text (its messages and labels, the
    notebooks, the policy files: :func:`gridsim.webfont.package_characters`) and the register's unit names."""
    from ..webfont import package_characters

    names = {ch for name in model.unit_names.values() for ch in str(name) if ord(ch) > 127 and ch.isprintable()}
    return "".join(sorted(package_characters() | names))


@functools.lru_cache(maxsize=4)
def _font_css(chars: str) -> str:
    from ..webfont import embedded_css

    return embedded_css(chars)


def app_font_css(model: EditorModel) -> str:
    """A ``<style>`` with the CJK font cut down to :func:`app_characters` (a WOFF data URI) and the rules
    that put it first on every element (:mod:`gridsim.webfont`): in JupyterLab, on a machine without a
    Chinese font, the app and the notebook around it still draw every character."""
    return _font_css(app_characters(model))


def build_app(model: EditorModel | None = None, *, unit: str | None = None, plan_csv=None, scenario=None,
              homes_path=None, out_dir=None, tiles: bool = False, repair_seed: int = 0,
              repair_time_limit: float = 20.0) -> "EditorApp":
    """Build the editor app (open the model from the register unless one is given)."""
    if model is None:
        model = EditorModel.open(homes_path=homes_path, plan_csv=plan_csv, scenario=scenario, unit=unit)
    elif unit is not None:
        model.unit = unit
    return EditorApp(model, out_dir=out_dir, tiles=tiles, repair_seed=repair_seed,
                     repair_time_limit=repair_time_limit)


def _button(label: str, cls: str, style: str = "", tooltip: str = "") -> W.Button:
    b = W.Button(description=label, button_style=style, tooltip=tooltip or label,
                 layout=W.Layout(width="auto"))
    b.add_class(cls)
    return b


def _html(cls: str, value: str = "") -> W.HTML:
    w = W.HTML(value)
    w.add_class(cls)
    return w


def _esc(x) -> str:
    return html.escape(str(x))


class EditorApp:
    """The widget tree (``app.widget``) and its event handlers; display it with ``display(app)``."""

    def __init__(self, model: EditorModel, out_dir=None, tiles: bool = False, repair_seed: int = 0,
                 repair_time_limit: float = 20.0):
        self.model = model
        self.out_dir = Path(out_dir) if out_dir is not None else REPORT_DIR / "editor"
        self.repair_options = {"seed": repair_seed, "time_limit": repair_time_limit}
        self._colours: dict[str, dict[str, str]] = {}
        self._unit_features: dict[str, list] = {}
        self._follow_model = False
        self._build(tiles)
        self._open_unit()

    # ------------------------------------------------------------------ layout
    def _build(self, tiles: bool) -> None:
        m = self.model
        names = m.unit_names
        self.unit_select = W.Dropdown(
            options=[(f"{names.get(u, u)} {u}（{'社区' if m.unit_types[u] == 'community' else '村'}）", u)
                     for u in m.unit_ids],
            value=m.unit, description="村（社区）", layout=W.Layout(width="360px"))
        self.unit_select.add_class("gs-unit")
        self.unit_select.observe(self._guard(self._on_unit), names="value")

        self.map = L.Map(layers=(), center=(31.8, 115.9), zoom=14, scroll_wheel_zoom=True, zoom_snap=0.25,
                         zoom_delta=0.5,
                         layout=W.Layout(width=f"{MAP_SIZE_PX[0]}px", height=f"{MAP_SIZE_PX[1]}px"))
        self.map.add_class("gs-map")
        if tiles:
            self.map.add(L.basemap_to_tiles(L.basemaps.OpenStreetMap.Mapnik))
        self.unit_layer = L.GeoJSON(data=_fc([]), name="村社边界 unit")
        self.outline_layer = L.GeoJSON(data=_fc([]), name="网格轮廓 grid outlines")
        self.selection_layer = L.GeoJSON(data=_fc([]), name="已选 selection", point_style={"radius": 9})
        self.homes_layer = L.GeoJSON(data=_fc([]), name="住户 homes", point_style={"radius": 6})
        self.homes_layer.on_click(self._guard(self._on_home_click))
        self.homes_layer.on_hover(self._guard(self._on_home_hover))
        for layer in (self.unit_layer, self.outline_layer, self.selection_layer, self.homes_layer):
            self.map.add(layer)
        self.draw = L.DrawControl(
            polygon={"shapeOptions": {"color": "#000000", "weight": 2, "fillOpacity": 0.05}},
            rectangle={"shapeOptions": {"color": "#000000", "weight": 2, "fillOpacity": 0.05}},
            polyline={}, circle={}, circlemarker={}, marker={}, edit=False, remove=False)
        self.draw.on_draw(self._guard(self._on_draw))
        self.map.add(self.draw)

        self.select_mode = W.ToggleButtons(options=[("替换 replace", "replace"), ("添加 add", "add")],
                                           value="add", description="框选方式",
                                           tooltip="画多边形选择时替换或添加 (polygon replaces or adds)")
        self.select_mode.add_class("gs-select-mode")
        self.selection_html = _html("gs-selection")
        self.hover_html = _html("gs-hover", "<span class='gs-note'>鼠标移到住户上查看信息 (hover a home)</span>")
        self.target = W.Dropdown(description="移入网格", layout=W.Layout(width="320px"))
        self.target.add_class("gs-target")
        self.target.observe(self._guard(lambda _: self._show_preview()), names="value")
        self.move_btn = _button("移动 Move", "gs-move", "primary", "把所选住户移入目标网格 (move the selection)")
        self.undo_btn = _button("撤销 Undo", "gs-undo")
        self.redo_btn = _button("重做 Redo", "gs-redo")
        self.clear_btn = _button("清除选择 Clear", "gs-clear")
        self.repair_btn = _button("修复 Repair", "gs-repair", "warning",
                                  "用优化器的最小改动模式修复本村社 (minimal-change repair of this unit)")
        self.lock_homes_btn = _button("锁定所选住户 Lock homes", "gs-lock-homes")
        self.unlock_homes_btn = _button("解锁所选住户 Unlock homes", "gs-unlock-homes")
        self.lock_grid = W.Dropdown(description="网格", layout=W.Layout(width="220px"))
        self.lock_grid.add_class("gs-lock-grid")
        self.lock_grid_btn = _button("锁定网格 Lock grid", "gs-lock-grid-btn")
        self.unlock_grid_btn = _button("解锁网格 Unlock grid", "gs-unlock-grid-btn")
        for b, fn in ((self.move_btn, self._on_move), (self.undo_btn, self._on_undo),
                      (self.redo_btn, self._on_redo), (self.clear_btn, self._on_clear),
                      (self.repair_btn, self._on_repair), (self.lock_homes_btn, lambda: self._on_lock_homes(True)),
                      (self.unlock_homes_btn, lambda: self._on_lock_homes(False)),
                      (self.lock_grid_btn, lambda: self._on_lock_grid(True)),
                      (self.unlock_grid_btn, lambda: self._on_lock_grid(False))):
            b.on_click(self._guard(lambda _b, fn=fn: fn()))
        self.preview_html = _html("gs-preview")
        self.diff_html = _html("gs-diff")
        self.message_html = _html("gs-message")
        self.table_html = _html("gs-table-box")

        self.save_name = W.Text(value="editor_plan", description="文件名", layout=W.Layout(width="260px"))
        self.save_name.add_class("gs-save-name")
        self.allow_violations = W.Checkbox(value=False, description="允许保存违规方案（同时写出违规清单）",
                                           indent=False, layout=W.Layout(width="auto"))
        self.allow_violations.add_class("gs-allow")
        self.save_btn = _button("保存 Save", "gs-save", "success")
        self.save_btn.on_click(self._guard(lambda _b: self._on_save()))
        self.load_path = W.Text(value="", placeholder="plan.csv 或 plan.gpkg", description="载入",
                                layout=W.Layout(width="360px"))
        self.load_path.add_class("gs-load-path")
        self.load_btn = _button("载入 Load", "gs-load")
        self.load_btn.on_click(self._guard(lambda _b: self._on_load()))

        self.overview_map = L.Map(layers=(), center=(31.8, 115.9), zoom=12, scroll_wheel_zoom=True,
                                  layout=W.Layout(width=f"{MAP_SIZE_PX[0]}px", height="520px"))
        self.overview_map.add_class("gs-overview-map")
        if tiles:
            self.overview_map.add(L.basemap_to_tiles(L.basemaps.OpenStreetMap.Mapnik))
        self.overview_units = L.GeoJSON(data=_fc([]), name="村社 units",
                                        hover_style={"fillOpacity": 0.15})
        self.overview_units.on_click(self._guard(self._on_overview_click))
        self.overview_grids = L.GeoJSON(data=_fc([]), name="网格 grids")
        self.overview_map.add(self.overview_units)
        self.overview_map.add(self.overview_grids)
        self.overview_html = _html("gs-overview-table")

        side = W.VBox([
            self.hover_html, self.selection_html, self.select_mode, self.target,
            W.HBox([self.move_btn, self.undo_btn, self.redo_btn, self.clear_btn]),
            self.preview_html, self.message_html,
            W.HBox([self.repair_btn]),
            W.HBox([self.lock_homes_btn, self.unlock_homes_btn]),
            W.HBox([self.lock_grid, self.lock_grid_btn, self.unlock_grid_btn]),
            self.diff_html,
        ], layout=W.Layout(width="520px", padding="0 0 0 12px"))
        header = W.HTML(CSS + f"<h3>网格调整编辑器 Grid editor — {html.escape(data_title(m))}</h3>"
                        "<div class='gs-note'>点击住户选择/取消；在地图左侧工具中画多边形或矩形框选；选择目标网格后先看预览再移动。"
                        "(Click a home to select it; draw a polygon to lasso; preview before moving.)</div>")
        # JupyterLab does not use the Voila template that links the served font: the app carries its own
        self.font_html = W.HTML(app_font_css(m), layout=W.Layout(display="none"))
        self.font_html.add_class("gs-font")
        self.widget = W.VBox([
            self.font_html, header, self.unit_select, W.HBox([self.map, side]),
            W.HTML("<h4>本村社网格 Grids of this unit</h4>"), self.table_html,
            W.HTML("<h4>保存与载入 Save and load</h4>"),
            W.HBox([self.save_name, self.allow_violations, self.save_btn]),
            W.HBox([self.load_path, self.load_btn]),
            W.HTML(f"<h4>全街道总览（{len(m.unit_ids)} 个村社的网格轮廓）Overview of all {len(m.unit_ids)} units</h4>"
                   "<div class='gs-note'>绿色：合规；红色：违反规则。点击村社切换编辑。(green: ok; red: breaks a rule; "
                   "click a unit to edit it)</div>"),
            W.HBox([self.overview_map, self.overview_html]),
        ])
        self.widget.add_class("gs-app")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------------ drawing
    def _colour(self, gid: str) -> str:
        colours = self._colours.setdefault(self.model.unit, {})
        if gid not in colours:
            used = set(colours.values())
            free = [c for c in PALETTE if c not in used]
            colours[gid] = free[0] if free else PALETTE[len(colours) % len(PALETTE)]
        return colours[gid]

    def _open_unit(self) -> None:
        m = self.model
        for gid in m.grids():
            self._colour(gid)
        pos = m.unit_positions
        lon, lat = m.lonlat.points(m.xy[pos, 0], m.xy[pos, 1])
        hh = m.household_counts[pos]
        self._feature_base = [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(float(x), 7), round(float(y), 7)]},
             "properties": {"home_id": hid, "households": int(h)}}
            for hid, x, y, h in zip(m.home_ids(pos), lon, lat, hh)]
        self._radius = [round(4.0 + min(8.0, math.sqrt(h) / 1.5), 1) for h in hh]
        shape = m.lonlat.geometry(m.outlines.unit_shapes[m.unit])
        self.unit_layer.data = _fc([{"type": "Feature", "geometry": shapely.geometry.mapping(shape),
                                     "properties": {"style": {"color": "#000000", "weight": 2, "dashArray": "6,4",
                                                              "fill": False, "interactive": False}}}])
        # open on the homes (not the whole unit polygon, which includes empty fields), a little padded
        w, s, e, n = float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())
        pad_x, pad_y = max((e - w) * 0.08, 0.0008), max((n - s) * 0.08, 0.0008)
        self.map.center, self.map.zoom = _center_zoom(w - pad_x, s - pad_y, e + pad_x, n + pad_y, *MAP_SIZE_PX)
        self.refresh()

    def refresh(self, preview: bool = True) -> None:
        """Redraw everything from the model (map layers, lists, table, diff, overview)."""
        self._draw_homes()
        frame = self.model.grid_frame()  # the unit's dissolved grids, for the map and the overview
        self._draw_outlines(frame)
        self._draw_selection()
        self._fill_lists()
        self._draw_table()
        self._draw_diff()
        self._draw_overview(frame)
        self.undo_btn.disabled = not self.model.undo_stack
        self.redo_btn.disabled = not self.model.redo_stack
        if preview:
            self._show_preview()

    def _draw_homes(self) -> None:
        m = self.model
        pos = m.unit_positions
        grids = m.grid_of(pos)
        locked = m.locked_homes
        feats = []
        for f, p, g, r in zip(self._feature_base, pos, grids, self._radius):
            c = self._colour(g)
            style = {"color": "#000000" if p in locked else "#333333", "weight": 3 if p in locked else 1,
                     "fillColor": c, "fillOpacity": 0.9, "radius": r,
                     "className": f"gs-home gs-home-{f['properties']['home_id']}"}
            if p in locked:
                style["dashArray"] = "2,2"
            feats.append({**f, "properties": {**f["properties"], "grid_id": g, "style": style}})
        self.homes_layer.data = _fc(feats)

    def _draw_outlines(self, frame) -> None:
        m = self.model
        geoms = m.lonlat.geometry(frame.geometry.to_numpy())
        feats = [{"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                  "properties": {"grid_id": gid, "style": {
                      "color": self._colour(gid), "weight": 3, "fillColor": self._colour(gid), "fillOpacity": 0.12,
                      "dashArray": None if ok else "8,5", "interactive": False,
                      "className": f"gs-outline gs-outline-{gid}"}}}
                 for gid, ok, geom in zip(frame["grid_id"], frame["ok"], geoms)]
        self.outline_layer.data = _fc(feats)

    def _draw_selection(self) -> None:
        m = self.model
        index = {int(p): k for k, p in enumerate(m.unit_positions)}
        feats = []
        for p in m.selection:
            k = index[p]
            f = self._feature_base[k]
            feats.append({**f, "properties": {**f["properties"], "style": {
                "radius": self._radius[k] + 4, "color": "#000000", "weight": 3, "fill": False,
                "interactive": False, "className": f"gs-sel gs-sel-{f['properties']['home_id']}"}}})
        self.selection_layer.data = _fc(feats)
        n = len(m.selection)
        if n == 0:
            self.selection_html.value = "<b>已选 0 户</b>（点击住户或框选）<span class='gs-note'>selected: none</span>"
        else:
            ids = m.home_ids(m.selection)
            hh = int(m.household_counts[m.selection].sum())
            shown = "、".join(_esc(h) for h in ids[:8]) + (" …" if n > 8 else "")
            self.selection_html.value = (f"<b>已选 {n} 处住户，{hh} 户</b> <span class='gs-note'>selected {n} homes, "
                                         f"{hh} households</span><br><span class='gs-selected-ids'>{shown}</span>")

    def _fill_lists(self) -> None:
        m = self.model
        grids = m.grids()
        options = [(f"{g}（{m.plan.tally(g)['households']} 户）", g) for g in grids] + [("新网格 new grid", NEW_GRID)]
        value = self.target.value if self.target.value in [v for _, v in options] else None
        with self.target.hold_trait_notifications():
            self.target.options = options
            self.target.value = value
        lock_value = self.lock_grid.value if self.lock_grid.value in grids else (grids[0] if grids else None)
        self.lock_grid.options = [(f"{g}{' 🔒' if g in m.locked_grids else ''}", g) for g in grids]
        self.lock_grid.value = lock_value

    def _draw_table(self) -> None:
        m = self.model
        t = m.grid_table()
        hh_label = "规划户数 planned" if m.unit_type == "community" else "登记户数 households"
        rules = m.plan.unit_rules(m.unit_type)  # the one definition of the limits (gridsim.grid_rules)
        counted = rules.count_tally not in ("households",)  # a count other than households (村按住房计)
        rows = []
        for r in t.itertuples():
            cls = "gs-good" if r.ok else "gs-bad"
            rows.append(
                f"<tr data-grid='{_esc(r.grid_id)}' class='gs-row'>"
                f"<td class='gs-id'><span class='gs-swatch' data-colour='{self._colour(r.grid_id)}' "
                f"style='background:{self._colour(r.grid_id)}'></span>{_esc(r.grid_id)}{' 🔒' if r.locked else ''}</td>"
                + (f"<td class='gs-count'>{r.counted_households}</td>" if counted else "")
                + f"<td class='gs-hh'>{r.households}</td><td class='gs-res'>{r.resident_households}</td>"
                f"<td class='gs-key'>{r.key_households}</td><td class='gs-homes'>{r.homes}</td>"
                f"<td class='gs-hours {'gs-bad' if r.over_hours else ''}'>{r.hours_month:.1f}</td>"
                f"<td class='gs-status {cls}'>{_esc(r.status)}</td></tr>")
        bad = int((~t["ok"]).sum())
        count_head = f"<th>{_esc(rules.ceiling.what_zh)}</th>" if counted else ""
        self.table_html.value = (
            f"<div class='gs-note'>限值 limits: {_esc(rules.describe())}；{len(t)} 个网格，{bad} 个违反规则 "
            f"({len(t)} grids, {bad} break a rule)</div>"
            f"<table class='gs-table'><tr><th>网格 grid</th>{count_head}<th>{hh_label}</th><th>常住户 resident</th>"
            f"<th>五必访户 key</th><th>房屋 homes</th>"
            f"<th title='走访、行走、固定事务；上限 {m.policy['workload.ceiling_hours_month']:g} 小时'>月工时 h/month</th>"
            f"<th>规则状态 rule status</th></tr>{''.join(rows)}</table>")

    def _draw_diff(self) -> None:
        d = self.model.diff()
        self.diff_html.value = (
            f"<div class='gs-diff-text'><b>与起始方案相比 vs starting plan</b>：本村社移动 "
            f"<span class='gs-diff-homes'>{d.homes_in_unit}</span> 处住户、"
            f"<span class='gs-diff-hh'>{d.households_in_unit}</span> 户；全街道 {d.homes} 处、{d.households} 户"
            f" <span class='gs-note'>(homes / households moved: unit {d.homes_in_unit} / "
            f"{d.households_in_unit}, all {d.homes} / {d.households})</span>"
            f"<br>按优化器口径（整格合并不算移动）移动 <span class='gs-diff-opt'>{d.households_optimizer}</span> 户 "
            f"<span class='gs-note'>(households moved as the optimizer counts them: merging whole grids moves "
            f"nobody)</span></div>")

    def _draw_overview(self, unit_frame) -> None:
        m = self.model
        if not self._unit_features:
            frame = m.grid_frame("all")
            for uid in m.unit_ids:
                self._unit_features[uid] = self._overview_features(frame[frame["unit_id"] == uid])
            units = []
            for uid in m.unit_ids:
                shape = m.lonlat.geometry(m.outlines.unit_shapes[uid])
                units.append({"type": "Feature", "geometry": shapely.geometry.mapping(shape),
                              "properties": {"unit_id": uid, "name": m.unit_names.get(uid, uid), "style": {
                                  "color": "#000000", "weight": 2, "fillColor": "#999999", "fillOpacity": 0.03,
                                  "className": f"gs-ov-unit gs-ov-unit-{uid}"}}})
            self.overview_units.data = _fc(units)
            w, s, e, n = shapely.bounds(m.lonlat.geometry(shapely.union_all(list(m.outlines.unit_shapes.values()))))
            self.overview_map.center, self.overview_map.zoom = _center_zoom(w, s, e, n, MAP_SIZE_PX[0], 520)
        else:
            self._unit_features[m.unit] = self._overview_features(unit_frame)
        self.overview_grids.data = _fc([f for uid in m.unit_ids for f in self._unit_features[uid]])
        rows = []
        for uid in m.unit_ids:
            feats = self._unit_features[uid]
            bad = sum(1 for f in feats if not f["properties"]["ok"])
            cls = "gs-good" if bad == 0 else "gs-bad"
            mark = " ◀" if uid == m.unit else ""
            rows.append(f"<tr data-unit='{uid}'><td class='gs-id'>{_esc(m.unit_names.get(uid, uid))}{mark}</td>"
                        f"<td>{len(feats)}</td><td class='{cls}'>{bad}</td></tr>")
        self.overview_html.value = ("<table class='gs-table'><tr><th>村社 unit</th><th>网格数 grids</th>"
                                    f"<th>违规网格 grids breaking rules</th></tr>{''.join(rows)}</table>")

    def _overview_features(self, frame) -> list:
        geoms = self.model.lonlat.geometry(frame.geometry.to_numpy())
        return [{"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                 "properties": {"grid_id": gid, "ok": bool(ok), "style": {
                     "color": "#1b7f2a" if ok else "#d62728", "weight": 1.5, "fillOpacity": 0.0 if ok else 0.15,
                     "fillColor": "#d62728", "interactive": False}}}
                for gid, ok, geom in zip(frame["grid_id"], frame["ok"], geoms)]

    def _show_preview(self) -> None:
        m = self.model
        target = self.target.value
        if not m.selection or target is None:
            self.preview_html.value = ("<div class='gs-note'>预览：选择住户和目标网格后显示移动效果 "
                                       "(preview appears once homes and a target grid are chosen)</div>")
            return
        self.preview_html.value = _preview_html(m.check_move(target), m)

    def _say(self, text: str, ok: bool = True) -> None:
        cls = "gs-good" if ok else "gs-bad"
        self.message_html.value = f"<div class='gs-msg {cls}'>{text}</div>"

    # ------------------------------------------------------------------ events
    def _guard(self, fn):
        """Run a handler; show a user-facing error in the message area instead of losing it in a log."""
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except GridsimError as exc:  # user-facing; InputError lists one problem per line
                self._say(_esc(str(exc)).replace("\n", "<br>"), ok=False)
            except Exception as exc:  # a bug must show in the app, not vanish into the kernel log
                traceback.print_exc()
                self._say(f"内部错误 (internal error): {_esc(type(exc).__name__)}: {_esc(exc)}", ok=False)
        return run

    def _on_unit(self, change) -> None:
        if self._follow_model:  # the selector is only catching up with the model (undo/redo elsewhere)
            return
        self.model.unit = change["new"]
        self.target.value = None
        self._say(f"已打开 {_esc(self.model.unit_names.get(self.model.unit, self.model.unit))} (unit opened)")
        self._open_unit()

    def _on_home_click(self, **event) -> None:
        hid = (event.get("properties") or {}).get("home_id")
        if hid is None:
            return
        self.model.select([hid], mode="toggle")
        self._draw_selection()
        self._show_preview()

    def _on_home_hover(self, feature=None, **event) -> None:
        props = (feature or {}).get("properties") or event.get("properties") or {}
        if "home_id" in props:
            self.hover_html.value = (f"<span class='gs-note'>住户 home {_esc(props['home_id'])}：{props['households']} 户，"
                                     f"网格 grid {_esc(props.get('grid_id'))}</span>")

    def _on_draw(self, target, action, geo_json) -> None:
        if action != "created":
            return
        before = len(self.model.selection)
        self.model.select_polygon(geo_json["geometry"], mode=self.select_mode.value)
        self.draw.clear()
        self._say(f"框选：已选 {len(self.model.selection)} 处住户（之前 {before}）(lasso selection)")
        self._draw_selection()
        self._show_preview()

    def _on_overview_click(self, **event) -> None:
        uid = (event.get("properties") or {}).get("unit_id")
        if uid and uid != self.model.unit:
            self.unit_select.value = uid

    def _on_move(self) -> None:
        target = self.target.value
        if target is None:
            raise GridsimError("请先选择目标网格 (choose a target grid first)")
        check = self.model.move(target)
        self._colour(check.target)
        note = ("；".join(_esc(v.message) for v in check.broken)) if check.broken else "未破坏规则 (no rule broken)"
        self._say(f"已移动 {len(check.homes)} 处住户到 {_esc(check.target)} (moved)。{note}", ok=not check.broken)
        if check.new_grid:
            self.target.value = None
        self.refresh()
        if check.new_grid:
            self.target.value = check.target

    def _on_undo(self) -> None:
        unit = self.model.unit
        step = self.model.undo()
        if step is None:
            raise GridsimError("没有可撤销的操作 (nothing to undo)")
        self._after_history(unit, f"已撤销：{_esc(step.label)} (undone)")

    def _on_redo(self) -> None:
        unit = self.model.unit
        step = self.model.redo()
        if step is None:
            raise GridsimError("没有可重做的操作 (nothing to redo)")
        self._after_history(unit, f"已重做：{_esc(step.label)} (redone)")

    def _after_history(self, unit_before: str, message: str) -> None:
        if self.model.unit != unit_before:  # the step was in another unit: show that unit
            self._follow_model = True
            try:
                self.unit_select.value = self.model.unit
            finally:
                self._follow_model = False
            self._open_unit()
        else:
            self.refresh()
        self._say(message)

    def _on_clear(self) -> None:
        self.model.clear_selection()
        self._draw_selection()
        self._show_preview()

    def _on_lock_homes(self, locked: bool) -> None:
        if not self.model.selection:
            raise GridsimError("请先选择住户 (select homes first)")
        self.model.lock_homes(self.model.selection, locked)
        self._say(f"{'已锁定' if locked else '已解锁'} {len(self.model.selection)} 处住户 "
                  f"({'locked' if locked else 'unlocked'})")
        self.refresh()

    def _on_lock_grid(self, locked: bool) -> None:
        gid = self.lock_grid.value
        if gid is None:
            raise GridsimError("请先选择网格 (choose a grid)")
        self.model.lock_grids([gid], locked)
        self._say(f"{'已锁定' if locked else '已解锁'}网格 {_esc(gid)} ({'locked' if locked else 'unlocked'})")
        self.refresh()

    def _on_repair(self) -> None:
        buttons = (self.repair_btn, self.move_btn, self.undo_btn, self.redo_btn, self.save_btn, self.load_btn)
        for b in buttons:
            b.disabled = True
        self._say("修复中… (repairing with the optimizer's minimal-change mode)")
        try:
            result = self.model.repair(**self.repair_options)
        finally:
            for b in buttons:
                b.disabled = False
        moved = result.moved
        self.model.select(moved["home_id"].tolist(), mode="replace")
        lines = "".join(f"<tr><td class='gs-id'>{_esc(r.home_id)}</td><td class='gs-id'>{_esc(r.from_grid)}</td>"
                        f"<td class='gs-id'>{_esc(r.to_grid)}</td><td>{r.households}</td></tr>"
                        for r in moved.head(30).itertuples())
        more = f"<div class='gs-note'>… 另有 {len(moved) - 30} 处</div>" if len(moved) > 30 else ""
        more += "".join(f"<div class='gs-note gs-repair-note'>{_esc(n)}</div>" for n in result.notes)
        self._say(
            f"修复完成：移动 {len(moved)} 处住户、{int(moved['households'].sum())} 户；本村社违规 "
            f"{result.violations_before} → {result.violations_after} 条 (repair moved {len(moved)} homes; "
            f"violations {result.violations_before} → {result.violations_after})。移动的住户已选中，可撤销。"
            f"<table class='gs-table gs-repair-moved'><tr><th>住户 home</th><th>原网格 from</th><th>新网格 to</th>"
            f"<th>户数 households</th></tr>{lines}</table>{more}", ok=result.violations_after == 0)
        self.refresh(preview=False)

    def _on_save(self) -> None:
        name = self.save_name.value.strip()
        if not name:
            raise GridsimError("请输入文件名 (enter a file name)")
        result = self.model.save(self.out_dir / name, allow_violations=self.allow_violations.value)
        files = "、".join(f"<code class='gs-saved-file'>{_esc(p)}</code>" for p in result.paths.values())
        extra = f"；方案违反 {result.violations} 条规则，清单已写出 (violations listed)" if result.violations else ""
        self._say(f"已保存 (saved): {files}{extra}")

    def _on_load(self) -> None:
        path = self.load_path.value.strip()
        if not path:
            raise GridsimError("请输入方案文件路径 (enter a plan file path)")
        p = Path(path)
        if not p.is_absolute():
            p = self.out_dir / p
        self.model.load(p)
        self._colours.clear()
        self._unit_features.clear()
        self._open_unit()
        self._say(f"已载入 {_esc(p)}，作为新的起始方案 (loaded as the new starting plan)")


def _preview_html(check: MoveCheck, m: EditorModel) -> str:
    """The move preview: both grids' counts before → after, rules broken/fixed, split source grids."""
    parts = []
    if not check.homes and len(check.blocked) == 1:  # e.g. just after a move: the selection sits in the target
        return ("<div class='gs-preview-box'><b>移动预览 preview</b><div class='gs-note gs-nothing'>所选住户已在该网格"
                "，请选择其他网格或住户 (the selection is already in this grid)</div></div>")
    if check.blocked:
        parts.append("<div class='gs-bad gs-blocked'>不能移动 (not allowed)：" +
                     "；".join(_esc(b) for b in check.blocked) + "</div>")
    if len(check.counts):
        head = ("<tr><th>网格 grid</th><th>户数 households</th><th>常住户 resident</th><th>五必访 key</th>"
                "<th>房屋 homes</th></tr>")
        rows = []
        for gid, r in check.counts.iterrows():
            label = f"{_esc(gid)}{'（新 new）' if check.new_grid and gid == check.target else ''}"
            cells = "".join(f"<td>{int(r[t + '_before'])} → <b>{int(r[t + '_after'])}</b></td>"
                            for t in ("households", "resident_households", "key_households", "homes"))
            rows.append(f"<tr data-grid='{_esc(gid)}'><td class='gs-id'>{label}</td>{cells}</tr>")
        parts.append(f"<table class='gs-table gs-preview-table'>{head}{''.join(rows)}</table>")
    emptied = [g for g in check.counts.index if g != check.target and int(check.counts.loc[g, "homes_after"]) == 0]
    if emptied:
        parts.append("<div class='gs-note gs-emptied'>移动后以下网格清空并取消 (these grids would be emptied and "
                     "disappear)：" + "、".join(_esc(g) for g in emptied) + "</div>")
    if check.splits:
        parts.append("<div class='gs-bad gs-splits'>⚠ 原网格将断开 (source grid would fall apart)：" +
                     "；".join(f"{_esc(g)} 分成 {k} 块" for g, k in check.splits.items()) + "</div>")
    if check.broken:
        parts.append("<div class='gs-bad gs-broken'>将违反 (would break)：<br>" +
                     "<br>".join(_esc(v.message) for v in check.broken) + "</div>")
    broken_keys = {(v.rule, v.grid_id) for v in check.broken}
    still = [v for v in check.after if (v.rule, v.grid_id) not in broken_keys]
    if still:
        parts.append("<div class='gs-bad gs-still'>移动后仍违反 (still broken after the move)：<br>" +
                     "<br>".join(_esc(v.message) for v in still) + "</div>")
    if check.fixed:
        parts.append("<div class='gs-good gs-fixed'>将修复 (would fix)：<br>" +
                     "<br>".join(_esc(v.message) for v in check.fixed) + "</div>")
    if check.allowed and not check.broken:
        parts.append("<div class='gs-good gs-clean'>此移动不破坏任何规则 (this move breaks no rule)</div>")
    return "<div class='gs-preview-box'><b>移动预览 preview</b>" + "".join(parts) + "</div>"


def _fc(features: list) -> dict:
    return {"type": "FeatureCollection", "features": features}


def _center_zoom(w: float, s: float, e: float, n: float, width_px: int, height_px: int) -> tuple:
    """Centre and the largest zoom (in quarter steps) at which the lon/lat box fits a map of this size."""
    def merc_y(lat):
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    dx = max(e - w, 1e-6) / 360.0
    dy = max(merc_y(n) - merc_y(s), 1e-6) / (2 * math.pi)
    zoom = math.floor(4 * min(math.log2(width_px / 256 / dx), math.log2(height_px / 256 / dy))) / 4
    return ((s + n) / 2, (w + e) / 2), float(max(1.0, min(18.0, zoom)))
