"""A grid plan: every home assigned to exactly one grid, with per-grid tallies and the plan's rules.

:class:`Plan` is the one object the optimizer, the map editor, the budget and the notebooks share (in
the spirit of GerryChain's ``Partition`` with ``Tally`` updaters). It holds

* the assignment home → grid (grid ids are strings, unique across units; a home is never split, since
  a home *is* the unit of assignment — 以房定户);
* tallies per grid kept incrementally on every :meth:`Plan.move`: households (规划户数 in a community,
  户数 in a village), resident households (常住户), key households (五必访户), homes, and the unit;
* a fast contiguity test for single-home moves (:meth:`Plan.breaks_contiguity`: would the source grid
  fall apart?) by a breadth-first search that stops as soon as the home's same-grid neighbours are
  reconnected;
* :meth:`Plan.preview_move` — both grids' counts before and after a move and which limits it breaks or
  fixes, without changing the plan; every rule is checked on the touched grids only (contiguity and
  the within-unit rule from those grids' own members), so a preview costs what those grids cost, not
  what the whole plan costs;
* the rules (:data:`~gridsim.plan_rules.RULES`), small named functions over a plan, each citing its
  clause; the household limits come from :mod:`gridsim.grid_rules` (one definition per unit type, built
  from the plan's :class:`~gridsim.policy.Policy`); :meth:`Plan.violations` reports them by rule name with
  Chinese messages (English beside);
* :meth:`Plan.tallies` / :meth:`Plan.summary` (one row per grid: the one source of grid tallies for the
  budget, the assessment, the reports and the notebooks), and :meth:`Plan.to_frame` / :meth:`Plan.to_csv`
  (``home_id,grid_id``).

Homes are addressed either by id (``str``) or by position (``int``, row of the homes frame); methods
accept either, or a list/array of one kind.

Example::

    homes = read_homes(); graph = build_graph(homes, read_layer("barriers"))
    plan = Plan.from_column(homes, graph, "current_grid_id")   # today's map
    plan.violations_frame()                                    # which grids break the 2024 rules, why
    plan.preview_move("wanfo-xq01-b03", "wanfo-g02")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .errors import GridsimError
from .graph import HomeGraph, separates
from .grid_rules import TALLIES, CountLimit, UnitRules, count_limits, unit_rules
from .plan_rules import RULES, UNASSIGNED, Violation
from .policy import Policy, load_policy

__all__ = ["Plan", "RULES", "TALLIES", "Violation", "MoveRecord", "MovePreview", "SUMMARY_LABELS"]

#: Chinese + English headers for :meth:`Plan.summary` columns (for CSV and report output)
SUMMARY_LABELS = {
    "grid_id": "网格编号 grid_id", "unit_id": "村社编号 unit_id", "unit_type": "村社类型 unit_type",
    "households": "登记户数（社区为规划户数）households", "resident_households": "常住户数 resident_households",
    "key_households": "五必访户数 key_households", "homes": "住房（楼栋/房屋）数 homes",
    "counted_households": "规则计数户数 counted (社区规划户；村按计户口径)",
    "ok": "是否合规 ok", "violations": "违反规则 violations",
}


@dataclass(frozen=True)
class MoveRecord:
    """What :meth:`Plan.move` changed, enough for :meth:`Plan.undo`."""

    positions: np.ndarray
    previous: np.ndarray  # grid codes before the move
    created: int | None  # grid code created by the move, if any


@dataclass(frozen=True)
class MovePreview:
    """The effect of a move: per affected grid, counts before/after, and the rules it breaks or fixes."""

    counts: pd.DataFrame  # index grid_id; columns <tally>_before / <tally>_after
    before: list[Violation]  # violations of the affected grids before the move
    after: list[Violation]  # ... and after it
    broken: list[Violation]  # (rule, grid) pairs violated after the move but not before
    fixed: list[Violation]  # (rule, grid) pairs violated before the move but not after
    ok: bool  # True when the move breaks no rule that held before


#: up to this many grids, the contiguity and within-unit rules are checked from the grids' own members
#: (a move preview touches two or three); more, by one vectorized pass over the whole plan
LOCAL_CHECK_GRIDS = 16


# ---------------------------------------------------------------------------------------------- plan
class Plan:
    """An assignment of every home to a grid, with incremental tallies; see the module docstring.

    ``homes``: a frame from :func:`gridsim.registers.read_homes` (positions follow its row order);
    ``graph``: a :class:`~gridsim.graph.HomeGraph` of the same homes; ``assignment``: grid id per home
    (sequence aligned with ``homes``; empty/NaN means unassigned); ``policy``: limits (baseline if None).
    """

    def __init__(self, homes: pd.DataFrame, graph: HomeGraph, assignment: Sequence, policy: Policy | None = None):
        if graph.n != len(homes) or not np.array_equal(graph.home_ids, np.asarray(homes["home_id"], dtype=object)):
            raise GridsimError("邻接图与住户登记册不一致 (graph does not match the homes register)")
        assignment = pd.Series(np.asarray(assignment, dtype=object))
        if len(assignment) != len(homes):
            raise GridsimError(f"方案长度 {len(assignment)} 与住户数 {len(homes)} 不一致 (plan length mismatch)")
        self.homes = homes
        self.graph = graph
        self._set_policy(policy if policy is not None else load_policy())
        self._pos = {h: i for i, h in enumerate(graph.home_ids)}
        self._w = {"households": homes["households"].to_numpy(np.int64),
                   "resident_households": homes["resident_households"].to_numpy(np.int64),
                   "key_households": homes["key_households"].to_numpy(np.int64),
                   "homes": np.ones(len(homes), dtype=np.int64)}
        self._home_type = homes["unit_type"].to_numpy(dtype=object)
        indptr, indices = graph.csr.indptr, graph.csr.indices
        self._adj = [indices[indptr[i]:indptr[i + 1]].tolist() for i in range(graph.n)]
        missing = assignment.isna() | assignment.astype(str).str.strip().eq("")
        codes, ids = pd.factorize(assignment.where(~missing).astype(object), sort=True)
        self._ids: list[str] = [str(x) for x in ids]
        self._code = {g: c for c, g in enumerate(self._ids)}
        self._g = np.where(missing.to_numpy(), UNASSIGNED, codes).astype(np.int64)
        self._rebuild_tallies()

    # ---- construction
    @classmethod
    def from_column(cls, homes: pd.DataFrame, graph: HomeGraph, column: str = "current_grid_id",
                    policy: Policy | None = None) -> "Plan":
        """The plan given by a column of ``homes`` (``current_grid_id`` is today's map)."""
        if column not in homes.columns:
            raise GridsimError(f"住户登记册没有列 {column!r} (homes have no column {column!r})")
        return cls(homes, graph, homes[column].to_numpy(dtype=object), policy)

    @classmethod
    def from_csv(cls, path: str | Path, homes: pd.DataFrame, graph: HomeGraph, policy: Policy | None = None) -> "Plan":
        """A ``home_id,grid_id`` CSV, validated by :func:`gridsim.registers.read_plan`."""
        from .registers import read_plan

        return cls(homes, graph, read_plan(path, homes).to_numpy(dtype=object), policy)

    def _set_policy(self, policy: Policy) -> None:
        self.policy = policy
        self._unit_rules = {ut: unit_rules(policy, ut) for ut in ("community", "village")}
        self._limits = {lim.rule: lim for lim in count_limits(policy)}

    def with_policy(self, policy: Policy) -> "Plan":
        """The same assignment judged and counted under another policy (this plan is unchanged)."""
        new = self.copy()
        new._set_policy(policy)
        return new

    def unit_rules(self, unit_type: str) -> UnitRules:
        """The ceiling and floor for grids of one unit type (:mod:`gridsim.grid_rules`)."""
        return self._unit_rules[unit_type]

    def count_limit(self, rule: str) -> CountLimit:
        return self._limits[rule]

    def copy(self) -> "Plan":
        new = object.__new__(Plan)
        new.__dict__.update(self.__dict__)
        new._g = self._g.copy()
        new._ids = list(self._ids)
        new._code = dict(self._code)
        new._tally = {k: v.copy() for k, v in self._tally.items()}
        new._unit = self._unit.copy()
        new._grid_type = self._grid_type.copy()
        return new

    def _rebuild_tallies(self) -> None:
        k = len(self._ids)
        ok = self._g != UNASSIGNED
        g = self._g[ok]
        self._tally = {t: np.bincount(g, weights=w[ok], minlength=k).astype(np.int64) for t, w in self._w.items()}
        self._unit = np.full(k, -1, dtype=np.int64)
        first = np.unique(g, return_index=True)
        pos_ok = np.flatnonzero(ok)
        self._unit[first[0]] = self.graph.unit_codes[pos_ok[first[1]]]
        self._grid_type = np.full(k, "", dtype=object)
        self._grid_type[first[0]] = self._home_type[pos_ok[first[1]]]

    def _grow(self) -> None:
        for t in self._tally:
            self._tally[t] = np.r_[self._tally[t], np.zeros(max(8, len(self._ids)), dtype=np.int64)]
        self._unit = np.r_[self._unit, np.full(max(8, len(self._ids)), -1, dtype=np.int64)]
        self._grid_type = np.r_[self._grid_type, np.full(max(8, len(self._ids)), "", dtype=object)]

    # ---- addressing
    def positions(self, homes) -> np.ndarray:
        """Positions of ``homes`` given as ids (str) or positions (int), one or many."""
        if isinstance(homes, np.ndarray) and homes.dtype.kind in "iu":  # positions already: check in one go
            out = homes.astype(np.int64).ravel()
            if len(out) and not (0 <= out.min() and out.max() < self.graph.n):
                raise GridsimError(f"住户位置越界 (home position out of range): {out[(out < 0) | (out >= self.graph.n)][0]}")
            return out
        items = [homes] if isinstance(homes, (str, int, np.integer)) else list(homes)
        out = np.empty(len(items), dtype=np.int64)
        for k, h in enumerate(items):
            if isinstance(h, str):
                if h not in self._pos:
                    raise GridsimError(f"未知住户 (unknown home): {h!r}")
                out[k] = self._pos[h]
            else:
                if not 0 <= int(h) < self.graph.n:
                    raise GridsimError(f"住户位置越界 (home position out of range): {h}")
                out[k] = int(h)
        return out

    def grid_of(self, home) -> str | None:
        """Grid id of one home (id or position); None if unassigned."""
        g = self._g[self.positions(home)[0]]
        return None if g == UNASSIGNED else self._ids[g]

    @property
    def grid_ids(self) -> list[str]:
        """Ids of the non-empty grids, sorted."""
        return sorted(self._ids[g] for g in self._live())

    def unit_grid_ids(self, unit_id: str) -> list[str]:
        """Ids of the non-empty grids of one unit, sorted."""
        live = self._live()
        return sorted(self._ids[g] for g in live[self.graph.units[self._unit[live]] == unit_id])

    def grids_of(self, homes) -> np.ndarray:
        """Grid id of each of ``homes`` (ids or positions), None where unassigned."""
        ids = np.asarray(self._ids + [None], dtype=object)
        return ids[self._g[self.positions(homes)]]

    def _live(self) -> np.ndarray:
        return np.flatnonzero(self._tally["homes"][:len(self._ids)] > 0)

    def n_grids(self, unit_id: str | None = None) -> int:
        """Number of non-empty grids (in one unit if given)."""
        live = self._live()
        if unit_id is not None:
            live = live[self.graph.units[self._unit[live]] == unit_id]
        return len(live)

    def members(self, grid) -> np.ndarray:
        """Positions of the homes in a grid (id or code)."""
        g = self._code[grid] if isinstance(grid, str) else int(grid)
        return np.flatnonzero(self._g == g)

    def tally(self, grid_id: str) -> dict:
        """Counts of one grid: households, resident_households, key_households, homes, unit_id, and
        ``counted_households`` (the count its limits apply to, :mod:`gridsim.grid_rules`)."""
        g = self._code[grid_id]
        out = {t: int(v[g]) for t, v in self._tally.items()}
        out["unit_id"] = self.graph.units[self._unit[g]] if self._unit[g] >= 0 else None
        ut = self._grid_type[g]
        out["counted_households"] = out[self._unit_rules[ut].count_tally] if ut in self._unit_rules else out["households"]
        return out

    @property
    def assignment(self) -> pd.Series:
        """Grid id per home, aligned with ``homes`` (None where unassigned)."""
        ids = np.asarray(self._ids + [None], dtype=object)
        return pd.Series(ids[self._g], index=self.homes.index, name="grid_id")

    def new_grid_id(self, unit_id: str) -> str:
        """A fresh grid id ``<unit_id>-gNN`` not used in this plan."""
        k = 1
        while f"{unit_id}-g{k:02d}" in self._code:
            k += 1
        return f"{unit_id}-g{k:02d}"

    # ---- moves
    def move(self, homes, to_grid: str) -> MoveRecord:
        """Assign ``homes`` (ids or positions) to grid ``to_grid`` (created if new); tallies follow.

        Returns a :class:`MoveRecord` for :meth:`undo`. The move is not checked against the rules; use
        :meth:`preview_move` or :meth:`violations` for that.
        """
        pos = self.positions(homes)
        created = None
        if to_grid not in self._code:
            if not isinstance(to_grid, str) or not to_grid.isascii() or not to_grid.strip():
                raise GridsimError(f"网格编号须为非空 ASCII 文本 (grid id must be non-empty ASCII): {to_grid!r}")
            created = len(self._ids)
            self._code[to_grid] = created
            self._ids.append(to_grid)
            if created >= len(self._unit):
                self._grow()
        record = MoveRecord(pos, self._g[pos].copy(), created)
        self._apply(pos, np.full(len(pos), self._code[to_grid], dtype=np.int64))
        return record

    def _apply(self, pos: np.ndarray, to: np.ndarray) -> None:
        for p, g in zip(pos.tolist(), to.tolist()):
            old = self._g[p]
            if old == g:
                continue
            if old != UNASSIGNED:
                for t, w in self._w.items():
                    self._tally[t][old] -= w[p]
            if g != UNASSIGNED:
                if self._tally["homes"][g] == 0:
                    self._unit[g] = self.graph.unit_codes[p]
                    self._grid_type[g] = self._home_type[p]
                for t, w in self._w.items():
                    self._tally[t][g] += w[p]
            self._g[p] = g

    def undo(self, record: MoveRecord) -> None:
        """Reverse a :meth:`move` (the latest one first, if several)."""
        self._apply(record.positions[::-1], record.previous[::-1])
        if record.created is not None and record.created == len(self._ids) - 1 and self._tally["homes"][record.created] == 0:
            del self._code[self._ids.pop()]

    def breaks_contiguity(self, home) -> bool:
        """Would taking this one home out of its grid split the rest of that grid into pieces?

        Precisely: do the home's neighbours in its grid stop reaching each other without it? (For a grid
        that is already in pieces, only the piece holding this home is considered.)
        """
        p = int(self.positions(home)[0])
        if self._g[p] == UNASSIGNED:
            return False
        return separates(self._adj, self._g, p)

    def touches(self, home, grid_id: str) -> bool:
        """Is the home adjacent to (a home of) ``grid_id``?"""
        p = int(self.positions(home)[0])
        g = self._code.get(grid_id)
        return g is not None and any(self._g[u] == g for u in self._adj[p])

    def can_move(self, home, to_grid: str) -> bool:
        """A single-home move that keeps both grids contiguous and inside one unit."""
        p = int(self.positions(home)[0])
        g = self._code.get(to_grid)
        if g is None or self._tally["homes"][g] == 0:
            return True
        if self._unit[g] != self.graph.unit_codes[p]:
            return False
        return self.touches(p, to_grid) and not self.breaks_contiguity(p)

    def preview_move(self, homes, to_grid: str) -> MovePreview:
        """Counts of the affected grids before and after moving ``homes`` to ``to_grid``, and the rules
        the move would break or fix. The plan is left exactly as it was."""
        pos = self.positions(homes)
        before_codes = set(self._g[pos].tolist()) - {UNASSIGNED}
        before_v = self._grid_violations(np.array(sorted(before_codes | ({self._code[to_grid]} if to_grid in self._code else set())), dtype=np.int64))
        before_t = self._counts(before_codes | ({self._code[to_grid]} if to_grid in self._code else set()))
        record = self.move(pos, to_grid)
        try:
            affected = np.array(sorted(before_codes | {self._code[to_grid]}), dtype=np.int64)
            after_v = self._grid_violations(affected)
            after_t = self._counts(set(affected.tolist()))
        finally:
            self.undo(record)
        counts = before_t.add_suffix("_before").join(after_t.add_suffix("_after"), how="outer").fillna(0).astype(np.int64)
        bkeys = {(v.rule, v.grid_id) for v in before_v}
        akeys = {(v.rule, v.grid_id) for v in after_v}
        broken = [v for v in after_v if (v.rule, v.grid_id) not in bkeys]
        fixed = [v for v in before_v if (v.rule, v.grid_id) not in akeys]
        return MovePreview(counts, before_v, after_v, broken, fixed, ok=not broken)

    def _counts(self, codes: set) -> pd.DataFrame:
        codes = sorted(codes)
        return pd.DataFrame({t: [int(self._tally[t][g]) for g in codes] for t in TALLIES},
                            index=pd.Index([self._ids[g] for g in codes], name="grid_id"))

    # ---- what the rules read (grid codes are the plan's internal numbering of grid ids)
    def tally_array(self, tally: str) -> np.ndarray:
        """One tally per grid code (read-only view)."""
        out = self._tally[tally][:len(self._ids)]
        out.flags.writeable = False
        return out

    def grid_types(self, codes: np.ndarray) -> np.ndarray:
        return self._grid_type[codes]

    def grid_id_of_code(self, code: int) -> str:
        return self._ids[int(code)]

    def unit_of_code(self, code: int) -> str | None:
        u = self._unit[int(code)]
        return None if u < 0 else str(self.graph.units[u])

    def units_of_code(self, code: int) -> list[str]:
        """Every unit with a home in the grid, sorted."""
        return sorted(str(u) for u in self.graph.units[np.unique(self.graph.unit_codes[self.members(int(code))])])

    def unassigned_homes(self) -> list[tuple[str, str]]:
        """``(home_id, unit_id)`` of every home in no grid."""
        return [(self.graph.home_ids[p], self.graph.units[self.graph.unit_codes[p]])
                for p in np.flatnonzero(self._g == UNASSIGNED)]

    def mixed_grids(self, grids: np.ndarray | None = None) -> set:
        """Codes of the grids (among ``grids``; all if None) whose homes lie in more than one unit.

        A few grids (a move preview) are checked from their own members, so the cost follows the
        grids' size, not the plan's."""
        if grids is not None and len(grids) <= LOCAL_CHECK_GRIDS:
            codes = self.graph.unit_codes
            return {int(g) for g in grids if len(np.unique(codes[self._g == g])) > 1}
        ok = self._g != UNASSIGNED
        pairs = np.unique(np.column_stack([self._g[ok], self.graph.unit_codes[ok]]), axis=0)
        g, counts = np.unique(pairs[:, 0], return_counts=True)
        return set(g[counts > 1].tolist())

    def pieces(self) -> dict[str, int]:
        """Number of connected pieces of each non-empty grid under the adjacency graph (1 = contiguous)."""
        return {self._ids[g]: k for g, k in self.piece_counts().items()}

    def piece_counts(self, grids: np.ndarray | None = None) -> dict[int, int]:
        """Connected pieces per grid code (of ``grids``; every live grid if None). A few grids (a move
        preview) are searched from their own members; many at once, by one pass over all edges."""
        if grids is not None and len(grids) <= LOCAL_CHECK_GRIDS:
            return {int(g): self._grid_pieces(int(g)) for g in grids}
        e = self.graph.edges
        ga, gb = self._g[e[:, 0]], self._g[e[:, 1]]
        inside = (ga == gb) & (ga != UNASSIGNED)
        n = self.graph.n
        mat = coo_matrix((np.ones(inside.sum()), (e[inside, 0], e[inside, 1])), shape=(n, n))
        _, label = connected_components(mat, directed=False)
        ok = self._g != UNASSIGNED
        pairs = np.unique(np.column_stack([self._g[ok], label[ok]]), axis=0)
        g, counts = np.unique(pairs[:, 0], return_counts=True)
        found = dict(zip(g.tolist(), counts.tolist()))
        want = self._live() if grids is None else grids
        return {int(c): found.get(int(c), 0) for c in want}

    def _grid_pieces(self, g: int) -> int:
        """Connected pieces of one grid, by breadth-first search over its members (0 if empty)."""
        gg, adj = self._g, self._adj
        todo = set(np.flatnonzero(gg == g).tolist())
        pieces = 0
        while todo:
            pieces += 1
            queue = [todo.pop()]
            while queue:
                v = queue.pop()
                for u in adj[v]:
                    if u in todo:
                        todo.discard(u)
                        queue.append(u)
        return pieces

    def _grid_violations(self, grids: np.ndarray) -> list[Violation]:
        grids = grids[self._tally["homes"][grids] > 0] if len(grids) else grids
        out = []
        for name, rule in RULES.items():
            if name != "each_home_once":
                out += rule.check(self, grids)
        return out

    def violations(self, rules: Iterable[str] | None = None) -> list[Violation]:
        """Every broken rule in the plan (optionally only the named rules), grid by grid."""
        names = list(RULES) if rules is None else list(rules)
        unknown = [r for r in names if r not in RULES]
        if unknown:
            raise GridsimError(f"未知规则 (unknown rules): {unknown}; 可用 (available): {list(RULES)}")
        live = self._live()
        out = []
        for name in names:
            out += RULES[name].check(self, live)
        return out

    def violations_frame(self, rules: Iterable[str] | None = None) -> pd.DataFrame:
        """:meth:`violations` as a table: rule, clause, grid_id, unit_id, value, limit, message."""
        cols = ["rule", "clause", "grid_id", "unit_id", "value", "limit", "message"]
        return pd.DataFrame([v.__dict__ for v in self.violations(rules)], columns=cols)

    def is_valid(self) -> bool:
        return not self.violations()

    # ---- reporting
    def summary(self) -> pd.DataFrame:
        """One row per non-empty grid, sorted by unit and grid: unit, counts, ``counted_households`` (the
        count the grid's limits apply to: planned households in a community, the village count basis in a
        village, :mod:`gridsim.grid_rules`), rule status (``ok`` and the broken rule names)."""
        live = self._live()
        by_grid: dict[str, list[str]] = {}
        for v in self.violations([r for r in RULES if r != "each_home_once"]):
            by_grid.setdefault(v.grid_id, []).append(v.rule)
        ids = [self._ids[g] for g in live]
        types = self._grid_type[live]
        counted = np.zeros(len(live), dtype=np.int64)
        for ut, rules in self._unit_rules.items():
            sel = types == ut
            counted[sel] = self._tally[rules.count_tally][live[sel]]
        df = pd.DataFrame({
            "grid_id": ids,
            "unit_id": self.graph.units[self._unit[live]],
            "unit_type": types,
            **{t: self._tally[t][live] for t in TALLIES},
            "counted_households": counted,
        })
        df["violations"] = [";".join(by_grid.get(g, [])) for g in ids]
        df["ok"] = df["violations"].eq("")
        return df.sort_values(["unit_id", "grid_id"], kind="stable").reset_index(drop=True)

    def tallies(self) -> pd.DataFrame:
        """:meth:`summary` indexed by ``grid_id``: what the budget, the assessment and the notebooks take."""
        return self.summary().set_index("grid_id")

    def to_frame(self) -> pd.DataFrame:
        """``home_id,grid_id`` for every home, in register order."""
        return pd.DataFrame({"home_id": self.graph.home_ids, "grid_id": self.assignment.to_numpy()})

    def to_csv(self, path: str | Path) -> Path:
        """Write ``home_id,grid_id`` (UTF-8); refuses a plan with unassigned homes."""
        frame = self.to_frame()
        if frame["grid_id"].isna().any():
            raise GridsimError("方案中有未分配网格的住户，不能写出 (plan has unassigned homes; nothing written)")
        path = Path(path)
        frame.to_csv(path, index=False, encoding="utf-8")
        return path

    # ---- measures used by the optimizer and reports
    def _unit_mask(self, unit_id: str | None) -> np.ndarray:
        if unit_id is None:
            return np.ones(self.graph.n, dtype=bool)
        return self.graph.unit_codes == int(np.flatnonzero(self.graph.units == unit_id)[0])

    def cut_edges(self, weighted: bool = False, unit_id: str | None = None) -> float:
        """Edges whose two homes lie in different grids (their count, or total cutting weight), in the
        whole plan or in one unit."""
        e = self.graph.edges
        cut = self._g[e[:, 0]] != self._g[e[:, 1]]
        if unit_id is not None:
            cut &= self._unit_mask(unit_id)[e[:, 0]]
        return float(self.graph.weight[cut].sum()) if weighted else int(cut.sum())

    def split_groups(self, unit_id: str | None = None) -> int:
        """村民组/小区 split across grids: Σ over groups of (number of grids holding it − 1)."""
        if "group_id" not in self.homes.columns:
            return 0
        sel = self._unit_mask(unit_id)
        df = pd.DataFrame({"group": self.homes["group_id"].to_numpy()[sel], "grid": self._g[sel]})
        df = df[df["group"].notna()]
        return int((df.groupby("group")["grid"].nunique() - 1).sum())

    def moved_households(self, reference: Sequence, unit_id: str | None = None) -> int:
        """Households that leave the grid their old grid mostly went to (in the plan or one unit).

        ``reference`` is an earlier assignment aligned with the homes (e.g. ``homes["current_grid_id"]``).
        For each old grid, the new grid holding most of its households keeps them; the rest count as
        moved. Merging whole old grids therefore moves nobody; splitting one moves the smaller parts.
        """
        sel = self._unit_mask(unit_id)
        df = pd.DataFrame({"old": np.asarray(reference, dtype=object)[sel], "new": self._g[sel],
                           "hh": self._w["households"][sel]})
        df = df[df["old"].notna()]
        over = df.groupby(["old", "new"])["hh"].sum()
        return int(over.groupby(level=0).sum().sum() - over.groupby(level=0).max().sum())
