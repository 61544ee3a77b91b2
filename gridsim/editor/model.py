"""The editor's model: an editing session over a :class:`~gridsim.plan.Plan`, with no widgets in it.

Planners redraw grids by hand: they pick homes (by id, by clicking, or by drawing a polygon) and move
them to a grid or to a new grid. Every move is judged on both counts, contiguity and the never-split
rule at once, *before* it is made (:meth:`EditorModel.check_move`), using the plan's own preview. The
session edits one unit (村/社区) at a time — a grid lies inside one unit — over the whole plan, so a
saved plan always covers every home.

What the model keeps, and why:

* the plan (the optimizer's :class:`~gridsim.plan.Plan`: assignment, incremental tallies, rules); its
  move preview checks only the grids a move touches, so a preview costs what those grids cost, not
  what the whole subdistrict costs;
* the starting assignment, so the difference from it (homes and households moved) is always known;
* each grid's broken rules, updated from the plan's move preview (which reports the rules of exactly
  the grids a move touches) instead of re-checking the whole plan after every move;
* undo and redo stacks of steps (a step is a move, or a repair made of several moves), replayed
  through :meth:`Plan.move` / :meth:`Plan.undo`;
* locks on grids and homes: a locked home never moves, a locked grid neither gains nor loses homes,
  neither by hand nor by repair.

Saving writes ``<name>.csv`` (``home_id,grid_id``), ``<name>_summary.csv`` (one row per grid, as the
optimizer writes it), ``<name>.gpkg`` (grid outlines with their counts and rule status, homes and units:
:mod:`gridsim.plan_gpkg`) and ``<name>_roster.xlsx`` (the printable roster: :mod:`gridsim.roster`);
a plan that breaks a rule is saved only when asked explicitly (``allow_violations=True``) and then
``<name>_violations.csv`` is written beside it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import shapely

from ..errors import GridsimError, InputError, Problem
from ..plan import RULES, SUMMARY_LABELS, Plan, Violation
from .outlines import GridOutlines, LonLat

#: what the target selector passes for "move to a new grid"
NEW_GRID = "__new__"

SELECT_MODES = ("replace", "add", "remove", "toggle")

VIOLATION_LABELS = {
    "rule": "规则 rule", "label": "规则名称 rule name", "clause": "条款 clause", "grid_id": "网格 grid_id",
    "unit_id": "村社 unit_id", "value": "实际值 value", "limit": "限值 limit", "message": "说明 message",
}


@dataclass(frozen=True)
class MoveCheck:
    """What moving the selected homes to ``target`` would do, computed before the move.

    ``counts``: the affected grids' counts before and after (from :meth:`Plan.preview_move`);
    ``broken`` / ``fixed``: rules the move would break / fix; ``splits``: source grids that would fall
    apart (grid id -> number of pieces after the move); ``blocked``: reasons the move is not allowed
    (locks, nothing to move, a grid of another unit). An allowed move may still break rules: the
    planner sees which before choosing.
    """

    homes: tuple[str, ...]
    target: str
    new_grid: bool
    counts: pd.DataFrame
    before: tuple[Violation, ...]
    after: tuple[Violation, ...]
    broken: tuple[Violation, ...]
    fixed: tuple[Violation, ...]
    splits: dict
    blocked: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return not self.blocked

    @property
    def clean(self) -> bool:
        """Allowed and breaking no rule that held before."""
        return self.allowed and not self.broken

    @property
    def households_moved(self) -> int:
        after = self.counts.get("households_after")
        before = self.counts.get("households_before")
        if after is None or self.target not in self.counts.index:
            return 0
        return int(after[self.target] - before[self.target])


@dataclass
class Step:
    """One undoable change: the plan's move records (in order) and what to replay on redo."""

    label: str
    unit_id: str
    moves: list  # [(positions in the whole plan, target grid id)] in application order
    records: list = field(default_factory=list)  # (whole-plan, unit-plan) MoveRecord per move, when applied
    status_before: dict = field(default_factory=dict)  # grid id -> [Violation] before the step
    status_after: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Diff:
    """Difference from the starting plan: homes whose grid id changed and their households; and the
    optimizer's measure (``households_optimizer``), under which merging whole grids moves nobody."""

    homes: int
    households: int
    homes_in_unit: int
    households_in_unit: int
    households_optimizer: int  # Plan.moved_households: each old grid's households stay with its largest part
    moved: pd.DataFrame  # home_id, unit_id, from_grid, to_grid, households


@dataclass(frozen=True)
class RepairResult:
    """What a repair moved: one row per home (home_id, from_grid, to_grid, households), and the
    unit's violations before and after."""

    moved: pd.DataFrame
    violations_before: int
    violations_after: int
    notes: tuple = ()


@dataclass(frozen=True)
class SaveResult:
    paths: dict  # kind -> Path: csv, gpkg, violations (when written)
    violations: int


class EditorModel:
    """An editing session over ``plan``, one unit at a time (see the module docstring).

    ``plan``: the plan to edit (it is changed in place; the starting assignment is copied);
    ``unit``: the unit to open first (default: the first unit id); ``units``: optional unit polygons
    (GeoDataFrame with ``unit_id``) for grid outlines; ``repair``: a function
    ``repair(plan, unit_id, fixed_positions, **options) -> RepairOutput`` that makes the unit's grids
    legal with minimal change (default: the optimizer's repair mode,
    :func:`gridsim.editor.repair.repair_unit`).
    """

    def __init__(self, plan: Plan, unit: str | None = None, units=None, repair=None):
        self.plan = plan
        self.homes = plan.homes
        self.policy = plan.policy
        self._unit_of = self.homes["unit_id"].to_numpy(dtype=object)
        self.unit_types = dict(zip(self.homes["unit_id"], self.homes["unit_type"]))
        self._home_ids = self.homes["home_id"].to_numpy(dtype=object)
        self.household_counts = self.homes["households"].to_numpy(np.int64)  # per home, register order
        self.xy = self.homes[["x", "y"]].to_numpy(dtype=float)  # metres, register order
        self.unit_ids: list[str] = sorted(self.unit_types)
        self._positions_of_unit = {u: np.flatnonzero(self._unit_of == u) for u in self.unit_ids}
        self._units_layer = units
        self.unit_names: dict[str, str] = ({str(u): str(n) for u, n in zip(units["unit_id"], units["name"])}
                                           if units is not None and "name" in units.columns else {})
        self._outlines: GridOutlines | None = None
        self._lonlat: LonLat | None = None
        self._repair = repair
        self.locked_grids: set[str] = set()
        self.locked_homes: set[int] = set()
        self._reset_start()
        self.unit = unit if unit is not None else self.unit_ids[0]

    # ------------------------------------------------------------------ construction and state
    @classmethod
    def open(cls, homes_path=None, plan_csv=None, scenario=None, column: str = "current_grid_id",
             unit: str | None = None, edges=None, repair=None) -> "EditorModel":
        """Read a register (default: the embedded Shihe data), build the adjacency, and open a plan:
        ``plan_csv`` if given, else the register's ``column`` (today's map)."""
        import pyogrio

        from ..graph import build_graph, graph_from_edges
        from ..paths import SHIHE_GPKG
        from ..policy import load_policy
        from ..registers import read_homes, read_layer

        source = Path(homes_path) if homes_path is not None else SHIHE_GPKG
        homes = read_homes(source)
        units = barriers = None
        if source.suffix.lower() == ".gpkg":  # a GeoPackage register may carry unit polygons and barriers
            layers = {name for name, _ in pyogrio.list_layers(source)}
            units = read_layer("units", source) if "units" in layers else None
            barriers = read_layer("barriers", source) if "barriers" in layers else None
        graph = graph_from_edges(homes, edges) if edges is not None else build_graph(homes, barriers)
        policy = load_policy(scenario)
        plan = (Plan.from_csv(plan_csv, homes, graph, policy) if plan_csv is not None
                else Plan.from_column(homes, graph, column, policy))
        _refuse_grids_across_units(plan, str(plan_csv) if plan_csv is not None else f"{source}:{column}")
        return cls(plan, unit=unit, units=units, repair=repair)

    def _reset_start(self) -> None:
        """The current plan becomes the starting point: diff, undo history and statuses restart."""
        self.start = self.plan.assignment.to_numpy(dtype=object).copy()
        self.undo_stack: list[Step] = []
        self.redo_stack: list[Step] = []
        self.selection: list[int] = []
        self._status: dict[str, list[Violation]] = {}
        for v in self.plan.violations([r for r in RULES if r != "each_home_once"]):
            self._status.setdefault(v.grid_id, []).append(v)

    @property
    def unit(self) -> str:
        return self._unit

    @unit.setter
    def unit(self, unit_id: str) -> None:
        if unit_id not in self.unit_types:
            raise GridsimError(f"未知村社 (unknown unit): {unit_id!r}; 可用 (available): {self.unit_ids}")
        self._unit = unit_id
        self._unit_pos = self._positions_of_unit[unit_id]
        self.selection = []

    @property
    def unit_type(self) -> str:
        return self.unit_types[self.unit]

    @property
    def unit_positions(self) -> np.ndarray:
        """Positions of the current unit's homes."""
        return self._unit_pos

    @property
    def outlines(self) -> GridOutlines:
        if self._outlines is None:
            self._outlines = GridOutlines(self.homes, self._units_layer)
        return self._outlines

    @property
    def lonlat(self) -> LonLat:
        if self._lonlat is None:
            self._lonlat = LonLat(self.homes.crs)
        return self._lonlat

    def grids(self, unit: str | None = None) -> list[str]:
        """Non-empty grids of a unit (default: the current one), sorted."""
        return self.plan.unit_grid_ids(self.unit if unit is None else unit)

    def grid_of(self, positions) -> np.ndarray:
        """Grid id of each home position (whole-plan positions)."""
        return self.plan.grids_of(np.asarray(positions, dtype=np.int64))

    def home_ids(self, positions) -> list[str]:
        return [str(h) for h in self._home_ids[np.asarray(positions, dtype=np.int64)]]

    # ------------------------------------------------------------------ selection
    def select(self, homes: Iterable, mode: str = "replace") -> list[int]:
        """Select homes (ids or positions) of the current unit; ``mode``: replace | add | remove | toggle.
        Homes of another unit are refused (a grid lies inside one unit)."""
        if mode not in SELECT_MODES:
            raise GridsimError(f"未知选择方式 (unknown selection mode): {mode!r}; 可用 (available): {SELECT_MODES}")
        pos = self.plan.positions(list(homes)) if not isinstance(homes, (str, int, np.integer)) \
            else self.plan.positions(homes)
        other = [self._home_ids[p] for p in pos if self._unit_of[p] != self.unit]
        if other:
            raise GridsimError(f"住户不在当前村社 {self.unit} (homes not in the current unit): {other[:5]}")
        current = dict.fromkeys(self.selection)
        new = [int(p) for p in pos]
        if mode == "replace":
            current = dict.fromkeys(new)
        elif mode == "add":
            current.update(dict.fromkeys(new))
        elif mode == "remove":
            for p in new:
                current.pop(p, None)
        else:
            for p in new:
                if p in current:
                    current.pop(p)
                else:
                    current[p] = None
        self.selection = list(current)
        return self.selection

    def select_polygon(self, polygon, crs: str = "EPSG:4326", mode: str = "replace") -> list[int]:
        """Select the current unit's homes inside ``polygon`` (shapely geometry or GeoJSON geometry
        dict), given in lon/lat (``crs="EPSG:4326"``, as drawn on the map) or in the register's metres
        (``crs=None``)."""
        geom = shapely.geometry.shape(polygon) if isinstance(polygon, dict) else polygon
        if crs is not None:
            geom = self.lonlat.to_metres(geom)
        xy = self.xy[self._unit_pos]
        inside = shapely.contains_xy(geom, xy[:, 0], xy[:, 1])
        return self.select(self._unit_pos[inside].tolist(), mode)

    def clear_selection(self) -> None:
        self.selection = []

    # ------------------------------------------------------------------ locks
    def lock_grids(self, grid_ids: Iterable[str], locked: bool = True) -> None:
        known = set(self.plan.grid_ids)
        unknown = [g for g in grid_ids if g not in known]
        if unknown:
            raise GridsimError(f"未知网格 (unknown grids): {unknown}")
        (self.locked_grids.update if locked else self.locked_grids.difference_update)(grid_ids)

    def lock_homes(self, homes: Iterable, locked: bool = True) -> None:
        pos = self.plan.positions(list(homes)).tolist()
        (self.locked_homes.update if locked else self.locked_homes.difference_update)(pos)

    # ------------------------------------------------------------------ moves
    def resolve_target(self, target: str) -> tuple[str, bool]:
        """The grid id a move goes to, and whether it is a new grid."""
        if target == NEW_GRID:
            return self.plan.new_grid_id(self.unit), True
        return target, False

    def check_move(self, target: str, homes: Iterable | None = None) -> MoveCheck:
        """Preview moving ``homes`` (default: the selection) to ``target`` (a grid id or ``NEW_GRID``):
        both grids' counts before/after, rules broken or fixed, source grids that would fall apart, and
        whether locks or units forbid it. The plan is left unchanged."""
        pos = self.selection if homes is None else self.plan.positions(list(homes)).tolist()
        pos = np.asarray(pos, dtype=np.int64)
        target_id, new = self.resolve_target(target)
        blocked = []
        if not new and target_id not in self.grids():
            blocked.append(f"网格 {target_id} 不在村社 {self.unit} 内 (grid is not in this unit)")
        if np.any(self._unit_of[pos] != self.unit):
            blocked.append("所选住户不在当前村社 (selected homes are not in this unit)")
            pos = pos[self._unit_of[pos] == self.unit]
        grids = self.grid_of(pos)
        pos = pos[grids != target_id]
        if len(pos) == 0:
            blocked.append("没有要移动的住户 (nothing to move: select homes outside the target grid)")
        locked_h = [self._home_ids[p] for p in pos if int(p) in self.locked_homes]
        if locked_h:
            blocked.append(f"住户已锁定 (homes locked): {', '.join(locked_h[:5])}{' …' if len(locked_h) > 5 else ''}")
        touched = sorted(set(self.grid_of(pos)) | {target_id})
        locked_g = [g for g in touched if g in self.locked_grids]
        if locked_g:
            blocked.append(f"网格已锁定 (grids locked): {', '.join(locked_g)}")
        if len(pos) == 0 or (not new and target_id not in self.grids()):
            empty = pd.DataFrame()
            return MoveCheck(tuple(self.home_ids(pos)), target_id, new, empty, (), (), (), (), {}, tuple(blocked))
        pv = self.plan.preview_move(pos, target_id)
        before_pieces = {v.grid_id: v.value for v in pv.before if v.rule == "contiguous"}
        sources = set(self.grid_of(pos))
        splits = {v.grid_id: int(v.value) for v in pv.after
                  if v.rule == "contiguous" and v.grid_id in sources and v.value > before_pieces.get(v.grid_id, 1)}
        return MoveCheck(tuple(self.home_ids(pos)), target_id, new, pv.counts, tuple(pv.before), tuple(pv.after),
                         tuple(pv.broken), tuple(pv.fixed), splits, tuple(blocked))

    def move(self, target: str, homes: Iterable | None = None) -> MoveCheck:
        """Move ``homes`` (default: the selection) to ``target`` as one undoable step, and return the
        check made before it. Refused (``GridsimError``) only when locks or units forbid it: a planner
        may break a rule on the way to a better plan, and the returned check says which. The selection
        is kept (it now sits in the target grid) so the planner sees what moved."""
        check = self.check_move(target, homes)
        if not check.allowed:
            raise GridsimError("不能移动 (move not allowed): " + "；".join(check.blocked))
        pos = self.plan.positions(list(check.homes))
        step = Step(f"移动 {len(pos)} 户到 {check.target} (move {len(pos)} homes to {check.target})",
                    self.unit, [(pos, check.target)])
        step.status_before = _by_grid(check.before, check.counts.index)
        step.status_after = _by_grid(check.after, check.counts.index)
        self._apply(step)
        self.undo_stack.append(step)
        self.redo_stack.clear()
        return check

    def _apply(self, step: Step) -> None:
        step.records = [self.plan.move(pos, target) for pos, target in step.moves]
        self._set_status(step.status_after)

    def _set_status(self, status: dict) -> None:
        for gid, vs in status.items():
            if vs:
                self._status[gid] = list(vs)
            else:
                self._status.pop(gid, None)

    def undo(self) -> Step | None:
        """Take back the latest step (switching to its unit); None when there is nothing to undo."""
        if not self.undo_stack:
            return None
        step = self.undo_stack.pop()
        for record in reversed(step.records):
            self.plan.undo(record)
        self._set_status(step.status_before)
        self.redo_stack.append(step)
        if self.unit != step.unit_id:
            self.unit = step.unit_id
        return step

    def redo(self) -> Step | None:
        """Make the latest undone step again; None when there is nothing to redo."""
        if not self.redo_stack:
            return None
        step = self.redo_stack.pop()
        if self.unit != step.unit_id:
            self.unit = step.unit_id
        self._apply(step)
        self.undo_stack.append(step)
        return step

    # ------------------------------------------------------------------ repair
    def repair(self, **options) -> RepairResult:
        """Run the optimizer's minimal-change repair on the current unit from the current state, keeping
        locked homes and grids as they are, and apply its result as one undoable step. Returns what it
        moved. ``options`` go to the repair function (e.g. ``seed``, ``time_limit``)."""
        repair = self._repair
        if repair is None:
            from .repair import repair_unit as repair
        uid = self.unit
        fixed = set(self.locked_homes)
        for g in self.locked_grids:
            fixed.update(self.plan.members(g).tolist())
        fixed_pos = np.array(sorted(p for p in fixed if self._unit_of[p] == uid), dtype=np.int64)
        before_grids = self.grids()
        status_before = {g: list(self._status.get(g, [])) for g in before_grids}
        n_before = sum(len(v) for v in status_before.values())
        result = repair(self.plan, uid, fixed_pos, **options)
        new = np.asarray(result.assignment, dtype=object)[self._unit_pos]
        old = self.grid_of(self._unit_pos)
        changed = new != old
        if np.any(changed & np.isin(self._unit_pos, fixed_pos)):
            raise GridsimError("修复结果移动了锁定的住户 (repair moved locked homes); 未应用 (not applied)")
        pos = self._unit_pos[changed]
        targets = new[changed]
        moves = [(pos[targets == t], str(t)) for t in pd.unique(targets)]
        step = Step(f"修复 {uid}：移动 {len(pos)} 户 (repair {uid}: {len(pos)} homes moved)", uid, moves)
        step.status_before = status_before
        self._apply(step)
        after = {g: [] for g in set(before_grids) | set(self.grids())}
        for v in self.plan.violations([r for r in RULES if r != "each_home_once"]):
            if v.grid_id in after:
                after[v.grid_id].append(v)
        step.status_after = after
        self._set_status(after)
        for g in after:
            step.status_before.setdefault(g, [])
        self.undo_stack.append(step)
        self.redo_stack.clear()
        moved = pd.DataFrame({"home_id": self._home_ids[pos], "from_grid": old[changed], "to_grid": targets,
                              "households": self.household_counts[pos]})
        return RepairResult(moved, n_before, sum(len(v) for v in after.values()), tuple(result.notes))

    # ------------------------------------------------------------------ reading the state
    def grid_hours(self, gid: str) -> float:
        """The grid's hours a month (:mod:`gridsim.workload`: visits, walking, fixed duties), recomputed
        when its homes change (cached by its member homes, so a move recomputes only the two grids)."""
        from ..workload import (WorkloadParams, check_positions, grid_parts, home_visits, hours_from_parts,
                                param_values)

        members = self.plan.members(gid)
        key = (gid, members.tobytes())
        cache = self.__dict__.setdefault("_hours_cache", {})
        if key not in cache:
            if "_hours_inputs" not in self.__dict__ or self._hours_inputs[0] is not self.policy:
                params = WorkloadParams.from_policy(self.policy)
                kv, gv, assumed = home_visits(self.homes, params)
                self._hours_inputs = (self.policy, params, param_values(self.policy), check_positions(self.homes),
                                      kv, gv, self.homes["key_households"].to_numpy() > 0, assumed)
                cache.clear()
            _, params, values, xy, kv, gv, key_home, assumed = self._hours_inputs
            parts = grid_parts(xy[members], kv[members], gv[members], key_home[members],
                               np.zeros(len(members), dtype=np.int64), params, assumed)
            cache[key] = float(hours_from_parts(parts, values)["hours_month"][0]) if len(members) else 0.0
        return cache[key]

    def grid_table(self, unit: str | None = None) -> pd.DataFrame:
        """One row per grid of the unit: counts, hours a month (:meth:`grid_hours`, live), rule status
        (Chinese), lock; ``counted_households`` is the count the grid's limits apply to
        (:mod:`gridsim.grid_rules`: planned households in a community, the village count basis — houses or
        registered households — in a village); ``over_hours``: above ``workload.ceiling_hours_month``."""
        uid = self.unit if unit is None else unit
        ceiling = float(self.policy["workload.ceiling_hours_month"])
        rows = []
        for gid in self.grids(uid):
            t = self.plan.tally(gid)
            vs = self._status.get(gid, [])
            hours = self.grid_hours(gid)
            rows.append({
                "grid_id": gid, "counted_households": t["counted_households"], "households": t["households"],
                "resident_households": t["resident_households"],
                "key_households": t["key_households"], "homes": t["homes"], "hours_month": round(hours, 1),
                "over_hours": hours > ceiling + 1e-9, "ok": not vs,
                "status": "合规 ok" if not vs else "；".join(_short(v) for v in vs),
                "rules": ";".join(v.rule for v in vs), "locked": gid in self.locked_grids,
            })
        cols = ["grid_id", "counted_households", "households", "resident_households", "key_households", "homes",
                "hours_month", "over_hours", "ok", "status", "rules", "locked"]
        return pd.DataFrame(rows, columns=cols)

    def diff(self) -> Diff:
        """Homes (and their households) whose grid differs from the starting plan."""
        now = self.plan.assignment.to_numpy(dtype=object)
        changed = now != self.start
        in_unit = changed & (self._unit_of == self.unit)
        pos = np.flatnonzero(changed)
        moved = pd.DataFrame({"home_id": self._home_ids[pos], "unit_id": self._unit_of[pos],
                              "from_grid": self.start[pos], "to_grid": now[pos],
                              "households": self.household_counts[pos]})
        return Diff(int(changed.sum()), int(self.household_counts[changed].sum()), int(in_unit.sum()),
                    int(self.household_counts[in_unit].sum()), self.plan.moved_households(self.start), moved)

    def grid_frame(self, unit: str | None = None):
        """Dissolved grid outlines (metres) with counts and rule status: one unit, or all with
        ``unit="all"``. A GeoDataFrame in the register's CRS."""
        import geopandas as gpd

        assign = self.plan.assignment.to_numpy(dtype=object)
        mask = np.ones(len(assign), dtype=bool) if unit == "all" else self._unit_of == (unit or self.unit)
        mask &= pd.notna(assign)
        groups = pd.Series(np.flatnonzero(mask)).groupby(assign[mask])
        rows, geoms = [], []
        for gid, pos in groups:
            t = self.plan.tally(gid)
            vs = self._status.get(gid, [])
            rows.append({"grid_id": gid, "unit_id": t["unit_id"], "unit_type": self.unit_types[t["unit_id"]],
                         "households": t["households"], "resident_households": t["resident_households"],
                         "key_households": t["key_households"], "homes": t["homes"], "ok": not vs,
                         "violations": ";".join(v.rule for v in vs)})
            geoms.append(self.outlines.outline(pos.to_numpy()))
        cols = ["grid_id", "unit_id", "unit_type", "households", "resident_households", "key_households",
                "homes", "ok", "violations"]
        return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry=geoms, crs=self.homes.crs)

    def all_violations(self) -> list[Violation]:
        """Every broken rule in the whole plan (re-checked, not from the session's cache)."""
        return self.plan.violations()

    # ------------------------------------------------------------------ save and load
    def save(self, path, allow_violations: bool = False) -> SaveResult:
        """Write ``<path>.csv`` (``home_id,grid_id``), ``<path>_summary.csv`` (per grid, bilingual
        headers), ``<path>.gpkg`` (the published plan: layers ``grids``, ``homes``, ``units``, see
        :mod:`gridsim.plan_gpkg`) and ``<path>_roster.xlsx`` (the printable 网格划分表, see
        :mod:`gridsim.roster`, dated today). A plan that breaks rules needs ``allow_violations=True``;
        then ``<path>_violations.csv`` lists them. Nothing is written when refused; files appear
        together (written to temporary names, then renamed)."""
        from ..plan_gpkg import register_layers, write_plan_gpkg
        from ..roster import write_roster

        stem = Path(path)
        if stem.suffix.lower() in (".csv", ".gpkg"):
            stem = stem.with_suffix("")
        if not stem.name or not stem.name.isascii():
            raise GridsimError(f"文件名须为 ASCII (file name must be ASCII): {stem.name!r}")
        violations = self.all_violations()
        if violations and not allow_violations:
            raise GridsimError(
                f"方案违反 {len(violations)} 条规则，未保存；如确需保存，请选择“允许保存违规方案”"
                f" (the plan breaks {len(violations)} rules; nothing saved — choose to save despite violations)")
        stem.parent.mkdir(parents=True, exist_ok=True)
        targets = {"csv": stem.with_suffix(".csv"), "summary": stem.parent / f"{stem.name}_summary.csv",
                   "gpkg": stem.with_suffix(".gpkg"), "roster": stem.parent / f"{stem.name}_roster.xlsx"}
        if violations:
            targets["violations"] = stem.parent / f"{stem.name}_violations.csv"
        tmp_dir = Path(tempfile.mkdtemp(prefix=".gridsim-save-", dir=stem.parent))
        try:
            tmp = {k: tmp_dir / p.name for k, p in targets.items()}
            self.plan.to_csv(tmp["csv"])
            self.plan.summary().rename(columns=SUMMARY_LABELS).to_csv(tmp["summary"], index=False,
                                                                     encoding="utf-8-sig")
            write_plan_gpkg(self.plan, tmp["gpkg"], units=self._units_layer, outlines=self.outlines)
            groups = register_layers(self.homes.attrs.get("source"), ("groups",))["groups"]
            write_roster(self.plan, tmp["roster"], units=self._units_layer, groups=groups)
            if violations:
                violations_frame(violations).to_csv(tmp["violations"], index=False, encoding="utf-8-sig")
            for k in tmp:
                os.replace(tmp[k], targets[k])
            stale = stem.parent / f"{stem.name}_violations.csv"
            if not violations and stale.exists():
                stale.unlink()  # an old violations file must not sit beside a clean plan
        finally:
            for p in tmp_dir.iterdir():
                p.unlink()
            tmp_dir.rmdir()
        return SaveResult(targets, len(violations))

    def load(self, path) -> None:
        """Open a saved plan (``.csv`` ``home_id,grid_id``, or ``.gpkg`` grid polygons: each home goes to
        the polygon containing it). It becomes the new starting plan; history and selection restart.
        Bad files raise :class:`~gridsim.errors.InputError` naming the file, row and field."""
        path = Path(path)
        if path.suffix.lower() == ".gpkg":
            assignment = self._assignment_from_polygons(path)
        else:
            from ..registers import read_plan

            assignment = read_plan(path, self.homes).to_numpy(dtype=object)
        plan = Plan(self.homes, self.plan.graph, assignment, self.policy)
        _refuse_grids_across_units(plan, str(path))
        self.plan = plan
        self.locked_grids &= set(self.plan.grid_ids)
        self.locked_homes.clear()
        self._reset_start()
        self.unit = self.unit

    def _assignment_from_polygons(self, path: Path) -> np.ndarray:
        import geopandas as gpd
        import pyogrio

        source = str(path)
        if not path.exists():
            raise InputError(source, [Problem(source, None, None, None, "文件不存在 (file not found)")])
        layers = [name for name, _ in pyogrio.list_layers(path)]
        layer = "grids" if "grids" in layers else layers[0]
        grids = gpd.read_file(path, layer=layer, engine="pyogrio")
        if "grid_id" not in grids.columns:
            raise InputError(source, [Problem(source, None, "grid_id", None, "缺少必需列 (missing required column)")])
        if grids.crs is not None and self.homes.crs is not None and grids.crs != self.homes.crs:
            grids = grids.to_crs(self.homes.crs)
        pts = shapely.points(self.xy)
        tree = shapely.STRtree(grids.geometry.to_numpy())
        home_idx, poly_idx = tree.query(pts, predicate="intersects")
        assignment = np.full(len(pts), None, dtype=object)
        counts = np.bincount(home_idx, minlength=len(pts))
        ids = grids["grid_id"].astype(str).to_numpy()
        # a home on a shared edge touches two polygons: it keeps the grid drawn first in the file (the
        # spatial index returns matches in no particular order, so order them by the polygon's row)
        order = np.lexsort((poly_idx, home_idx))
        for h, p in zip(home_idx[order], poly_idx[order]):
            if assignment[h] is None:
                assignment[h] = ids[p]
        missing = np.flatnonzero(counts == 0)
        if len(missing):
            raise InputError(source, [Problem(source, None, "geometry", self._home_ids[p],
                                              "住户不在任何网格多边形内 (home lies in no grid polygon)")
                                      for p in missing[:50]])
        return assignment


def _refuse_grids_across_units(plan: Plan, source: str) -> None:
    """三(一): a grid lies inside one unit. The editor works unit by unit, so a plan with a grid across
    units is refused as input (naming the grids) rather than shown with half a grid's counts."""
    bad = plan.violations(["within_unit"])
    if bad:
        raise InputError(source, [Problem(source, None, "grid_id", v.grid_id,
                                          f"网格跨越多个村社 {v.unit_id}，请先在方案文件中拆分 "
                                          f"(grid spans several units; split it in the plan file first)")
                                  for v in bad])


def _by_grid(violations: Iterable[Violation], grids) -> dict:
    out = {str(g): [] for g in grids}
    for v in violations:
        out.setdefault(v.grid_id, []).append(v)
    return out


def _short(v: Violation) -> str:
    """A short Chinese label for a broken rule with its value and limit, for the table."""
    label = RULES[v.rule].label if v.rule in RULES else v.rule
    if v.rule == "contiguous":
        return f"{label}：分成 {v.value} 块"
    return f"{label}：{v.value}/{v.limit}"


def violations_frame(violations: Iterable[Violation]) -> pd.DataFrame:
    """Violations as a table with Chinese + English headers (written beside a plan saved with them)."""
    rows = [{"rule": v.rule, "label": RULES[v.rule].label if v.rule in RULES else v.rule, "clause": v.clause,
             "grid_id": v.grid_id, "unit_id": v.unit_id, "value": v.value, "limit": v.limit, "message": v.message}
            for v in violations]
    return pd.DataFrame(rows, columns=list(VIOLATION_LABELS)).rename(columns=VIOLATION_LABELS)
