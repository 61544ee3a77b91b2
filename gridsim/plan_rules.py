"""The plan's rules as small named functions over a :class:`~gridsim.plan.Plan` (in the spirit of
GerryChain's constraints): each takes the plan and the grid codes to check and returns the
:class:`Violation` s it finds, with a Chinese message (English beside) citing its clause.

The household limits come from :mod:`gridsim.grid_rules` (the one definition of which count has the
ceiling and which the floor); the other rules read their switch from the policy: ``grid.within_unit`` and
``grid.contiguous`` are readings (assumptions.yaml), and every home in one grid is the principle
``grid.home_indivisible`` (以房定户).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Callable

import numpy as np

from .grid_rules import COUNT_RULE_NAMES

if TYPE_CHECKING:
    from .plan import Plan

UNASSIGNED = -1


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, where, the value found and the limit, and a bilingual message."""

    rule: str
    clause: str
    grid_id: str | None
    unit_id: str | None
    value: object
    limit: object
    message: str


@dataclass(frozen=True)
class Rule:
    """A named rule: ``check(plan, grid_codes) -> list[Violation]`` over the given grids."""

    name: str
    label: str
    check: Callable[["Plan", np.ndarray], list[Violation]]


#: short Chinese labels of the count rules (the count itself and its basis come from gridsim.grid_rules)
COUNT_RULE_LABELS = {"community_max_planned": "规划住户上限", "community_min_resident": "常住户下限",
                     "village_max_households": "户数上限", "village_min_households": "户数下限"}


def _count_limit(name: str, plan: "Plan", grids: np.ndarray) -> list[Violation]:
    """A ceiling or floor on one tally for the grids of one unit type, as :mod:`gridsim.grid_rules` defines it.

    A module-level function bound to its rule name with :func:`functools.partial` (not a closure made when
    :data:`RULES` is built), so what it checks is read when a plan is checked."""
    lim = plan.count_limit(name)
    values = plan.tally_array(lim.tally)[grids]
    bad = (plan.grid_types(grids) == lim.unit_type) & lim.broken(values)
    out = []
    word, eng = ("超过上限", "exceeds the ceiling") if lim.upper else ("低于下限", "is below the floor")
    for g, v in zip(grids[bad], values[bad]):
        gid, uid = plan.grid_id_of_code(g), plan.unit_of_code(g)
        out.append(Violation(name, lim.clause, gid, uid, int(v), lim.value,
                             f"网格 {gid}（{uid}）{lim.what_zh} {int(v)}，{word} {lim.value}（{lim.clause}）"
                             f"({lim.what_en} {int(v)} {eng} {lim.value})"))
    return out


def _within_unit(plan: "Plan", grids: np.ndarray) -> list[Violation]:
    """三(一) read as: grids are redrawn by each 村（社）, so a grid lies inside one unit (``grid.within_unit``)."""
    if not plan.policy["grid.within_unit"]:
        return []
    clause = plan.policy.param("grid.within_unit").clause
    out = []
    for g in sorted(plan.mixed_grids(grids)):
        units = plan.units_of_code(g)
        gid = plan.grid_id_of_code(g)
        out.append(Violation("within_unit", clause, gid, ",".join(units), len(units), 1,
                             f"网格 {gid} 跨越 {len(units)} 个村社 {units}（{clause}）(grid spans several units)"))
    return out


def _contiguous(plan: "Plan", grids: np.ndarray) -> list[Violation]:
    """三(一) “区域” integration, read as a grid being one connected piece under the adjacency graph.

    The plan does not say "contiguous" in so many words, so this is the documented assumption
    ``grid.contiguous`` (assumptions.yaml); a scenario may switch the check off.
    """
    if not plan.policy["grid.contiguous"]:
        return []
    clause = plan.policy.param("grid.contiguous").clause
    out = []
    for g, k in plan.piece_counts(grids).items():
        if k > 1:
            gid, uid = plan.grid_id_of_code(g), plan.unit_of_code(g)
            out.append(Violation("contiguous", clause, gid, uid, int(k), 1,
                                 f"网格 {gid}（{uid}）不连片，分成 {k} 块（{clause}）"
                                 f"(grid is not contiguous: {k} pieces)"))
    return out


def _each_home_once(plan: "Plan", grids: np.ndarray) -> list[Violation]:
    """三(一)2 以房定户: every home belongs to exactly one grid (a home is never split)."""
    clause = plan.policy.principle("grid.home_indivisible").clause
    out = []
    for hid, uid in plan.unassigned_homes():
        out.append(Violation("each_home_once", clause, None, uid, hid, 1,
                             f"住户 {hid} 未分入任何网格（{clause} 以房定户）(home is not in any grid)"))
    return out


#: The rules, by name. Count limits read :mod:`gridsim.grid_rules` through the plan's policy.
RULES: dict[str, Rule] = {r.name: r for r in (
    *(Rule(name, COUNT_RULE_LABELS[name], partial(_count_limit, name)) for name in COUNT_RULE_NAMES),
    Rule("within_unit", "网格不跨村（社）", _within_unit),
    Rule("contiguous", "网格连片", _contiguous),
    Rule("each_home_once", "每户只属一个网格", _each_home_once),
)}
