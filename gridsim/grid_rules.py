"""The household limits of 三(一), defined once: for each unit type, which count has the ceiling, which
the floor, on which basis, with the policy key and clause of each.

Every consumer reads the limits from here — the Plan's rules (:mod:`gridsim.plan_rules`), the optimizer's
problem and bounds (:mod:`gridsim.partition.problem`), the diagnoses, the editor's labels, the partition
report, the plots and base pay (``pay.base.basis = grid_count``) — so a reading of the plan's words
(``grid.village.count_basis``) or a scenario's limit changes all of them together.

* community (三(一)1): ceiling on planned households (``households``) ≤ ``grid.community.max_planned_households``,
  floor on resident households ≥ ``grid.community.min_resident_households``;
* village (三(一)2): ``grid.village.min_households`` ≤ count ≤ ``grid.village.max_households``, where the count
  is houses (``homes``: 以房定户, one house one 户) or the registered households of the houses
  (``households``), by the assumption ``grid.village.count_basis``.

A count is one of the Plan's tallies (:data:`TALLIES`), so every limit is a sum over the homes of a grid
and is kept incrementally as homes move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PolicyError

UNIT_TYPES = ("community", "village")

#: the per-grid counts a Plan keeps; ``homes`` counts houses (villages) or buildings (communities)
TALLIES = ("households", "resident_households", "key_households", "homes")

#: how a tally is named when a limit applies to it (Chinese, English)
COUNT_WORDS = {
    ("community", "households"): ("规划住户", "planned households"),
    ("community", "resident_households"): ("常住户", "resident households"),
    ("village", "homes"): ("户数（以房定户，按住房计）", "households counted by house"),
    ("village", "households"): ("户数（按登记户计）", "registered households"),
}

VILLAGE_BASIS_TALLY = {"houses": "homes", "registered_households": "households"}


@dataclass(frozen=True)
class CountLimit:
    """One limit: a ceiling (``upper``) or floor on one tally of the grids of one unit type."""

    rule: str  # the rule's name in the Plan's violations, e.g. "community_max_planned"
    unit_type: str
    tally: str  # which Plan tally it bounds
    key: str  # policy key of the value
    value: int
    clause: str
    upper: bool
    what_zh: str
    what_en: str

    def broken(self, values) -> np.ndarray:
        """Which of ``values`` (sums of :attr:`tally` over grids) break the limit."""
        v = np.asarray(values)
        return v > self.value if self.upper else v < self.value

    @property
    def label(self) -> str:
        return f"{self.what_zh}{'上限' if self.upper else '下限'} {self.value}"


@dataclass(frozen=True)
class UnitRules:
    """The ceiling and the floor of one unit type; ``count_tally`` is the grid's size as the plan counts it
    (the ceiling's count: planned households in a community, the village count basis in a village)."""

    unit_type: str
    ceiling: CountLimit
    floor: CountLimit

    @property
    def count_tally(self) -> str:
        return self.ceiling.tally

    @property
    def limits(self) -> tuple[CountLimit, CountLimit]:
        return self.ceiling, self.floor

    def describe(self) -> str:
        """One line for reports and the editor, e.g. 规划住户 ≤ 500，常住户 ≥ 250（三(一)1）."""
        c, f = self.ceiling, self.floor
        if c.tally == f.tally:
            return f"{c.what_zh} {f.value}–{c.value}（{c.clause}）"
        return f"{c.what_zh} ≤ {c.value}，{f.what_zh} ≥ {f.value}（{c.clause}）"


def _limit(policy, rule: str, unit_type: str, tally: str, key: str, upper: bool) -> CountLimit:
    p = policy.param(key)
    zh, en = COUNT_WORDS[(unit_type, tally)]
    return CountLimit(rule, unit_type, tally, key, int(p.value), p.clause, upper, zh, en)


def unit_rules(policy, unit_type: str) -> UnitRules:
    """The limits for one unit type under ``policy``."""
    if unit_type == "community":
        return UnitRules(
            "community",
            _limit(policy, "community_max_planned", "community", "households",
                   "grid.community.max_planned_households", True),
            _limit(policy, "community_min_resident", "community", "resident_households",
                   "grid.community.min_resident_households", False))
    if unit_type == "village":
        tally = VILLAGE_BASIS_TALLY[policy["grid.village.count_basis"]]
        return UnitRules(
            "village",
            _limit(policy, "village_max_households", "village", tally, "grid.village.max_households", True),
            _limit(policy, "village_min_households", "village", tally, "grid.village.min_households", False))
    raise PolicyError(f"未知村社类型 (unknown unit type): {unit_type!r}")


def count_limits(policy) -> list[CountLimit]:
    """Every count limit of every unit type, in a fixed order (ceilings first)."""
    return [lim for ut in UNIT_TYPES for lim in unit_rules(policy, ut).limits]


#: the names of the count rules, whatever the policy (the Plan's rule list is fixed)
COUNT_RULE_NAMES = ("community_max_planned", "community_min_resident", "village_max_households",
                    "village_min_households")
