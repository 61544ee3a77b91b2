"""How many grids a unit needs at least, how many it can have at most, and why a unit may be infeasible.

A grid is contiguous, so it lies inside one connected piece (component) of the unit's adjacency; the
bounds are summed over pieces. For one piece with ceiling ``A`` on ``a`` and floor ``B`` on ``b``:

* lower bound: homes are indivisible items packed into grids of capacity ``A``, so at least the
  Martello–Toth bin-packing bound L2 (≥ ⌈Σa / A⌉; tighter when many homes exceed ``A/2``);
* upper bound: every grid needs ``B`` of ``b``, so at most ⌊Σb / B⌋ grids.

A piece is infeasible when a home alone exceeds the ceiling (it cannot share and still breaks it), when
its ``b`` cannot fill even one grid (a unit too small, or an island cut off from the rest of the unit),
or when the lower bound exceeds the upper bound; and when a 村民组/小区 too empty to make a legal grid of
its own homes cannot be topped up by its neighbours however the grids are drawn (:func:`locked_groups`,
:mod:`.stranded`). :func:`diagnose` names each cause in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .knapsack import best_floor_count, bin_packing_bound
from .problem import UnitProblem, components
from .stranded import stranded_groups


@dataclass(frozen=True)
class Diagnosis:
    """Why a unit cannot meet every rule (or why the search fell short), in Chinese with English."""

    unit_id: str
    code: str  # home_over_ceiling | unit_too_small | island | bounds_conflict | group_locked | no_legal_plan | not_found
    # | home_over_workload | workload_bounds_conflict | workload_over_ceiling (:mod:`.workload`)
    message: str


@dataclass(frozen=True)
class PieceBounds:
    """Bounds for one connected piece of a unit (local home indices in ``homes``)."""

    homes: np.ndarray
    a: int
    b: int
    lower: int
    upper: int
    oversize: np.ndarray  # local indices of homes whose ``a`` alone exceeds the ceiling
    hours_lower: int = 0  # grids the visits need under the workload ceiling (0 when it does not apply)

    @property
    def standalone(self) -> bool:
        """Can this piece be at least one legal-floored grid on its own?"""
        return self.upper >= 1


def piece_bounds(prob: UnitProblem) -> list[PieceBounds]:
    """Bounds for each connected piece of the unit, largest piece first."""
    _, label = components(prob)
    out = []
    for c in np.unique(label):
        idx = np.flatnonzero(label == c)
        a, b = int(prob.a[idx].sum()), int(prob.b[idx].sum())
        hours_lower = prob.workload.lower_bound(idx) if prob.workload is not None else 0
        lower = max(1, bin_packing_bound(prob.a[idx], prob.A), min(hours_lower, len(idx)))
        upper = b // prob.B if prob.B > 0 else len(idx)
        upper = min(upper, len(idx))
        out.append(PieceBounds(idx, a, b, lower, upper, idx[prob.a[idx] > prob.A], hours_lower))
    out.sort(key=lambda p: (-p.a, int(p.homes[0])))
    return out


def unit_bounds(prob: UnitProblem, pieces: list[PieceBounds] | None = None) -> tuple[int, int]:
    """(lower, upper) number of grids for the unit. Pieces too small to stand alone add nothing."""
    pieces = piece_bounds(prob) if pieces is None else pieces
    standalone = [p for p in pieces if p.standalone]
    if not standalone:
        return 1, 1
    return sum(p.lower for p in standalone), sum(max(p.upper, p.lower) for p in standalone)


def home_names(prob: UnitProblem, idx: np.ndarray, k: int = 5) -> str:
    ids = [str(prob.home_ids[i]) for i in idx[:k]]
    return "、".join(ids) + (f" 等 {len(idx)} 处" if len(idx) > k else "")


def locked_groups(prob: UnitProblem) -> list[tuple[int, int, int]]:
    """村民组/小区 that cannot be covered legally: ``(group code, grids needed, gate homes)``.

    Every grid meeting a group either stays inside it or reaches outside through one of the group's
    *gate* homes (homes with a neighbour outside the group), a different gate for each such grid. If no
    set of the group's own homes can be a legal grid (its best resident count under the ceiling is below
    the floor), every grid meeting the group must reach outside, so the group needs at least as many
    gates as the grids its ``a`` requires (bin-packing bound). When it has fewer, no legal plan exists.
    """
    out = []
    g = prob.group
    if (g < 0).all() or len(prob.edges) == 0:
        return out
    e = prob.edges
    ga, gb = g[e[:, 0]], g[e[:, 1]]
    leave = ga != gb
    gate = np.zeros(prob.n, dtype=bool)
    gate[e[leave, 0]] = True
    gate[e[leave, 1]] = True
    for code in np.unique(g[g >= 0]):
        idx = np.flatnonzero(g == code)
        need = bin_packing_bound(prob.a[idx], prob.A)
        gates = int(gate[idx].sum())
        if need <= gates or best_floor_count(prob.a[idx], prob.b[idx], prob.A) >= prob.B:
            continue
        out.append((int(code), need, gates))
    return out


def low_occupancy_groups(prob: UnitProblem) -> list[tuple[str, int, int]]:
    """村民组/小区 whose floored count is a smaller share of their ceilinged count than ``B / A``:
    ``(group id, Σa, Σb)``, lowest share first.

    A grid made only of such homes cannot reach the floor while under the ceiling, so every grid that
    holds some of them must be topped up from fuller neighbours; when fuller neighbours are scarce or
    far, no legal plan may exist even though the unit's totals allow one. (Villages, where ``a = b``
    and ``B ≤ A``, never have such groups.)
    """
    g = prob.group
    if (g < 0).all():
        return []
    out = []
    for code in np.unique(g[g >= 0]):
        idx = np.flatnonzero(g == code)
        a, b = int(prob.a[idx].sum()), int(prob.b[idx].sum())
        if b * prob.A < a * prob.B:
            out.append((str(prob.group_ids[idx[0]]), a, b))
    return sorted(out, key=lambda t: (t[2] / max(t[1], 1), t[0]))


def not_found(prob: UnitProblem, penalty: int) -> Diagnosis:
    """The search found no legal plan although no structural cause is proven: say so, with likely causes."""
    u = prob.unit_id
    low = low_occupancy_groups(prob)
    hint = ""
    if low:
        names = "、".join(f"{name}（常住 {b}/规划 {a} 户）" for name, a, b in low[:4])
        hint = (f"可能原因：{names} 常住户占规划户比例低于 {prob.B}/{prob.A}，含其住户的网格都须搭配入住率高的相邻小区，"
                f"相邻小区不够时无合规方案 (likely cause: low-occupancy compounds that need fuller neighbours)；")
    return Diagnosis(u, "not_found",
                     f"{u}：上下界未排除合规方案，但搜索未找到（最佳方案仍有 {penalty} 户超出限额）；{hint}"
                     f"可增加 --time-limit 或换 --seed 再试 (the bounds do not rule out a legal plan but the search "
                     f"found none; {penalty} households remain outside the limits)")


def count_words(prob: UnitProblem) -> tuple[str, str]:
    """How the ceiling's and the floor's counts are named (from :mod:`gridsim.grid_rules`)."""
    if prob.rules is None:
        return "上限计数", "下限计数"
    return prob.rules.ceiling.what_zh, prob.rules.floor.what_zh


def diagnose(prob: UnitProblem, pieces: list[PieceBounds] | None = None) -> list[Diagnosis]:
    """Every structural reason the unit cannot meet all rules; empty when the bounds allow a legal plan."""
    pieces = piece_bounds(prob) if pieces is None else pieces
    u = prob.unit_id
    a_word, b_word = count_words(prob)
    out = []
    over = np.concatenate([p.oversize for p in pieces])
    if len(over):
        out.append(Diagnosis(u, "home_over_ceiling",
                             f"{u}：住户 {home_names(prob, over)} 单栋{a_word} {int(prob.a[over].max())} 户，超过网格上限 {prob.A} 户，"
                             f"不能户内分户，所在网格必然超限 (a single home exceeds the grid ceiling {prob.A})"))
    if prob.workload is not None:
        alone = prob.workload.over_alone()
        if len(alone):
            wl = prob.workload
            need = wl.fixed + float(wl.visit_hours()[alone].max())
            out.append(Diagnosis(u, "home_over_workload",
                                 f"{u}：住户 {home_names(prob, alone)} 单处的走访加固定事务即需 {need:.1f} 小时/月，超过网格月工时"
                                 f"上限 {wl.ceiling:g} 小时，所在网格必然超时 (a single home's visits and the fixed duties "
                                 f"already need {need:.1f} h a month, above the workload ceiling {wl.ceiling:g} h)"))
    total_b = int(prob.b.sum())
    if total_b < prob.B:
        out.append(Diagnosis(u, "unit_too_small",
                             f"{u}：全村社{b_word}仅 {total_b} 户，不足一个网格的下限 {prob.B} 户，"
                             f"只能划为一个不达标的网格 (the whole unit is below one grid's floor {prob.B})"))
    elif len(pieces) > 1:
        for p in pieces:
            if not p.standalone:
                out.append(Diagnosis(u, "island",
                                     f"{u}：住户 {home_names(prob, p.homes)}（{p.b} 户）与本村社其他住户不相邻（孤岛，或被河流隔开），"
                                     f"单独成格不足下限 {prob.B} 户，只能并入最近的网格而不连片 "
                                     f"(island of {len(p.homes)} home(s) cut off from the rest; joined to the nearest grid, not contiguous)"))
    for p in pieces:
        if p.standalone and p.lower > p.upper and p.hours_lower >= p.lower and prob.workload is not None:
            where = "全村社" if len(pieces) == 1 else f"片区（含 {home_names(prob, p.homes, 2)}）"
            out.append(Diagnosis(u, "workload_bounds_conflict",
                                 f"{u}：{where}走访工时至少需要 {p.hours_lower} 个网格才能不超过月工时上限 "
                                 f"{prob.workload.ceiling:g} 小时，但{b_word} {p.b} 户最多只够 {p.upper} 个网格达到下限 {prob.B} 户 "
                                 f"(the visits need ≥{p.hours_lower} grids under the workload ceiling but the floor allows ≤{p.upper})"))
        elif p.standalone and p.lower > p.upper:
            where = "全村社" if len(pieces) == 1 else f"片区（含 {home_names(prob, p.homes, 2)}）"
            out.append(Diagnosis(u, "bounds_conflict",
                                 f"{u}：{where}{a_word} {p.a} 户至少需要 {p.lower} 个网格（上限 {prob.A} 户），"
                                 f"但{b_word} {p.b} 户最多只够 {p.upper} 个网格达到下限 {prob.B} 户，上下限无法同时满足 "
                                 f"(needs ≥{p.lower} grids for the ceiling but the floor allows ≤{p.upper})"))
    if prob.B > 0 and not out:
        def head(code: int) -> str:
            idx = np.flatnonzero(prob.group == code)
            return (f"{u}：{prob.group_ids[idx[0]]}（{len(idx)} 处住户，{a_word} {int(prob.a[idx].sum())} 户、{b_word} "
                    f"{int(prob.b[idx].sum())} 户）")

        for code, need, gates in locked_groups(prob):
            out.append(Diagnosis(u, "group_locked",
                                 f"{head(code)}至少要分 {need} 个网格，但其中任何不超过 {prob.A} 户的组合"
                                 f"{b_word}都不足 {prob.B} 户，每个网格都须与相邻村民组/小区合并，而它只有 {gates} 处住户与外部相邻，"
                                 f"至多 {gates} 个网格能做到 (a low-occupancy group needs {need} grids but only {gates} of "
                                 f"its homes touch other groups)"))
        for code, doors in ([] if out else stranded_groups(prob)):
            out.append(Diagnosis(u, "group_locked",
                                 f"{head(code)}任何不超过 {prob.A} 户的组合{b_word}都不足 {prob.B} 户，"
                                 f"每个网格都须经 {home_names(prob, np.asarray(doors))} 与相邻楼栋/住户合并；逐一检查其所有分法，"
                                 f"都无法在不超过上限的前提下补足下限，无合规方案 (proven: every way of sharing this "
                                 f"low-occupancy group among grids leaves one grid unable to reach the floor under the ceiling)"))
    return out
