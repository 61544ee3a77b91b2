"""Solving one unit: choose the number of grids, construct, improve, and keep the best plan found.

Per connected piece of the unit (see :mod:`.bounds`):

* ``fewest``: try ``k`` = lower bound, then ``k + 1`` … up to the upper bound, and stop at the first
  ``k`` where a legal plan is found; if none is, keep the plan with the fewest households outside the
  limits (fewer grids on ties);
* ``fixed``: the unit's requested number of grids, shared out over its pieces;
* ``repair``: the tree is built over today's grids as indivisible blocks (the connected parts of each
  current grid; a block over the ceiling is opened up into single homes), so today's grids are merged
  whole wherever that is legal, and the local search then moves as few households as possible.
  Pinned homes (``UnitProblem.pin``) of one of today's grids form one block, no two such blocks share
  a grid (so at least as many grids as pinned grids), and no search step moves them. Grid
  counts from the lower bound up are tried; after the first legal count, up to two more are tried if
  they move fewer households (moving fewer households ranks above having fewer grids).

For each ``k``: several spanning trees are peeled (:mod:`.construct`), the best few constructions go
through hill climbing and annealing (:mod:`.search`), more of them while none is legal, and the best by
the mode's objective is kept. In ``fewest``, a small piece that ends illegal or above its lower bound
goes to the exact search (:mod:`.exact`), which finds the fewest legal grids or proves there is no
legal plan.
Pieces too small to stand alone (islands) join the grid of the nearest home; a unit that cannot fill
one grid is one grid. The effort is counted in tries, not seconds, so a seed always gives the same
plan; the optional deadline only cuts the tries short (and is reported when it does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .bounds import Diagnosis, PieceBounds, diagnose, home_names, not_found, piece_bounds, unit_bounds
from .construct import peel, spanning_tree
from .exact import MAX_HOMES as EXACT_MAX_HOMES
from .exact import ExactResult, fewest_legal_grids
from .problem import UnitProblem
from .search import LocalSearch
from .workload import CALIBRATION_ROUNDS

GROUP_COST = 3.0  # a tree edge between two 村民组/小区 costs this many times more
REPAIR_EXTRA_GRIDS = 2  # repair: grids beyond the first legal count tried, if they move fewer households
ROAD_COST = 2.0  # ... and one across a road this many times more (so cuts tend to follow roads)
CALIBRATION_MARGIN = 1.05  # the recalibrated walking proxy errs this much on the long side


@dataclass(frozen=True)
class Effort:
    """How hard to search, in counts (deterministic), per piece and number of grids."""

    trees: int = 24  # spanning trees peeled
    polish: int = 3  # best constructions that get the local search ...
    polish_work: int = 60  # ... or more in small units: this many divided by the homes
    rescue: int = 3  # further constructions polished, one by one, while none is legal yet
    anneal_per_home: float = 4.0  # annealing steps per home (compactness)
    min_anneal: int = 600  # ... and at least this many
    recombine_work: int = 20000  # compactness recombinations: at most this / homes rounds
    recombinations: int = 150  # merge-and-split attempts (per polish) to fix limits and compactness
    penalty_steps: int = 10000  # annealing steps on the penalty when that still leaves one outside


@dataclass
class UnitSolution:
    labels: np.ndarray  # grid number per home of the unit (0..k-1)
    lower: int
    upper: int
    diagnoses: list[Diagnosis] = field(default_factory=list)
    penalty: int = 0
    hit_deadline: bool = False
    seconds: float = 0.0


def _tree_cost(prob: UnitProblem) -> np.ndarray:
    """Spanning-tree edge costs: short, heavy, same-group edges that cross no road are cheap."""
    e = prob.edges
    length = np.where(np.isfinite(prob.length), prob.length, 1.0)
    g = prob.group
    differ = (g[e[:, 0]] != g[e[:, 1]]) | (g[e[:, 0]] < 0)
    return (np.maximum(length, 1.0) / prob.weight * np.where(differ, GROUP_COST, 1.0)
            * np.where(prob.road, ROAD_COST, 1.0))


def _blocks(prob: UnitProblem) -> np.ndarray:
    """Repair mode: block label per home = connected part of its current grid (oversized blocks opened)."""
    e = prob.edges
    same = (prob.old[e[:, 0]] == prob.old[e[:, 1]]) & (prob.old[e[:, 0]] >= 0)
    n = prob.n
    _, lab = connected_components(coo_matrix((np.ones(same.sum()), (e[same, 0], e[same, 1])), shape=(n, n)),
                                  directed=False)
    sums = np.bincount(lab, weights=prob.a)
    big = sums[lab] > prob.A
    lab = np.where(big, lab.max() + 1 + np.arange(n), lab)
    if prob.pin is not None and (prob.pin >= 0).any():  # pinned homes of one of today's grids: one block
        pinned = np.flatnonzero(prob.pin >= 0)
        to_pin = np.full(int(lab.max()) + 1, -1, dtype=np.int64)
        to_pin[lab[pinned]] = prob.pin[pinned]
        lab = np.where(to_pin[lab] >= 0, lab.max() + 1 + to_pin[lab], lab)
    return np.unique(lab, return_inverse=True)[1]


def _construct(prob: UnitProblem, k: int, rng: np.random.Generator, blocks: np.ndarray | None,
               spread: float, geometric: bool = True) -> np.ndarray:
    """One peeled construction of ``k`` grids (over blocks if given), as labels per home.

    ``geometric``: tree over the geometric costs (compact, group-following); otherwise a random
    spanning tree that ignores geometry (as GerryChain draws), which mixes groups more freely — needed
    where a low-occupancy compound must share grids with its neighbours.
    """
    if blocks is None:
        cost = _tree_cost(prob) if geometric else np.ones(len(prob.edges))
        tree = spanning_tree(prob.n, prob.edges, cost, rng, jitter=1.0 if geometric else 100.0)
        return peel(prob.n, tree, prob.a, prob.b, prob.A, prob.B, k, rng, group=prob.group, spread=spread)
    nb = int(blocks.max()) + 1
    be = blocks[prob.edges]
    cross = be[:, 0] != be[:, 1]
    pairs = np.sort(be[cross], axis=1)
    strength = coo_matrix((prob.weight[cross], (pairs[:, 0], pairs[:, 1])), shape=(nb, nb)).tocsr().tocoo()
    bedges = np.column_stack([strength.row, strength.col]).astype(np.int64)
    tree = spanning_tree(nb, bedges, 1.0 / strength.data, rng, jitter=1.0)
    ba = np.bincount(blocks, weights=prob.a, minlength=nb)
    bb = np.bincount(blocks, weights=prob.b, minlength=nb)
    pinned = None
    if prob.pin is not None:
        pinned = np.zeros(nb)
        pinned[blocks[prob.pin >= 0]] = 1.0
    return peel(nb, tree, ba, bb, prob.A, prob.B, k, rng, spread=spread, pinned=pinned)[blocks]


def _solve_piece(prob: UnitProblem, ks: list[int], mode: str, rng: np.random.Generator, effort: Effort,
                 deadline: float | None, settle: bool = False) -> tuple[np.ndarray, int, bool, ExactResult | None]:
    """Best labels for one connected piece over the candidate grid counts ``ks`` (in order).

    ``settle`` (``fewest``, small pieces): when a count ends without a legal plan, or the legal plan
    found is above the first count, ask the exact search once. Its legal plan with the fewest grids
    ends the search (compacted by the local search); its proof that no legal plan exists stops the
    rescue polishes, which could only look for one. Returns labels, penalty, whether the deadline
    cut the search short, and the exact search's answer (None if not asked or out of budget).
    """
    if prob.n == 1 or ks == [1]:
        return np.zeros(prob.n, dtype=np.int64), int(prob.penalty(prob.a.sum(), prob.b.sum())), False, None
    blocks = _blocks(prob) if mode == "repair" else None
    cost = _tree_cost(prob)
    best: tuple | None = None
    hit = False
    first_legal = None
    rescue = effort.rescue
    found: ExactResult | None = None

    def keep(ls: LocalSearch, k: int) -> None:
        nonlocal best
        key = ls.key()
        # fewest/fixed: legality, then fewer grids; repair: legality, then fewer households moved
        rank = (key[0], k, key) if mode != "repair" else (key[0], key[1], k, key)
        if best is None or rank < best[0]:
            best = (rank, np.asarray(ls.lab, dtype=np.int64))

    def exact() -> bool:
        """Ask the exact search; True when it gave a legal plan (now the best)."""
        nonlocal settle, found, rescue, best
        settle, found = False, fewest_legal_grids(prob)
        if found is None:
            return False
        if found.grids is None:
            rescue = 0
            return False
        if best[0][0] == 0 and best[0][1] <= found.grids:
            return True
        ls = LocalSearch(prob, found.labels, mode)
        ls.climb(rng)
        _compact(ls, rng, effort, cost)
        if ls.penalty():  # legal by the household limits but over the workload ceiling: one plan among others
            keep(ls, found.grids)
            return False
        best = None
        keep(ls, found.grids)
        return True

    for k in ks:
        k = min(k, prob.n)
        built = []
        for t in range(effort.trees):
            if deadline is not None and time.monotonic() > deadline and built:
                hit = True
                break
            lab = _construct(prob, k, rng, blocks, spread=0.02 if t % 2 == 0 else 1.0, geometric=t % 4 < 2)
            ls = LocalSearch(prob, lab, mode)
            built.append((ls.key(), lab))
        built.sort(key=lambda t: t[0])
        polish = min(len(built), max(effort.polish, effort.polish_work // prob.n))
        for i, (_, lab) in enumerate(built[:polish + rescue]):
            if i >= polish and best[0][0] == 0:  # the rescue is only for a count not yet met legally
                break
            ls = LocalSearch(prob, lab, mode)
            ls.climb(rng)
            if ls.penalty():
                ls.recombine(rng, effort.recombinations, cost, until_legal=True)
                ls.climb(rng)
            if ls.penalty():
                ls.anneal_penalty(rng, effort.penalty_steps)
                ls.climb(rng)
            if i < polish or not ls.penalty():  # a rescue that failed is not worth compacting
                _compact(ls, rng, effort, cost)
            keep(ls, k)
            if deadline is not None and time.monotonic() > deadline:
                hit = True
                break
        if hit:
            break
        if best[0][0] == 0:
            first_legal = k if first_legal is None else first_legal
            # repair may take a grid or two more when that moves fewer households
            if mode != "repair" or best[0][1] == 0 or k >= first_legal + REPAIR_EXTRA_GRIDS:
                break
        elif settle and exact():
            break
    if settle and not hit and best[0][0] == 0 and best[0][1] > ks[0]:
        exact()  # legal above the first count: is a plan with fewer grids possible?
    return best[1], int(best[0][0]), hit, found


def _compact(ls: LocalSearch, rng: np.random.Generator, effort: Effort, cost: np.ndarray) -> None:
    """The compactness phase: annealing, then recombination, each followed by hill climbing. Neither
    lets the penalty rise, so a legal plan stays legal."""
    n = ls.p.n
    ls.anneal(rng, max(effort.min_anneal, int(effort.anneal_per_home * n)))
    ls.climb(rng)
    ls.recombine(rng, min(effort.recombinations, int(effort.recombine_work / n)), cost)
    ls.climb(rng)


def _share(total: int, pieces: list[PieceBounds]) -> list[int]:
    """Fixed mode: split a unit's grid count over its standalone pieces (at least one each)."""
    ks = [1] * len(pieces)
    for _ in range(max(0, total - len(pieces))):
        i = max(range(len(pieces)), key=lambda j: (pieces[j].a / ks[j], -j))
        ks[i] += 1
    return ks


def solve_unit(prob: UnitProblem, mode: str, rng: np.random.Generator, *, grids: int | None = None,
               effort: Effort = Effort(), deadline: float | None = None) -> UnitSolution:
    """Grid labels for every home of one unit, with its bounds and diagnoses."""
    t0 = time.monotonic()
    pieces = piece_bounds(prob)
    lower, upper = unit_bounds(prob, pieces)
    diags = diagnose(prob, pieces)
    labels = np.full(prob.n, -1, dtype=np.int64)
    standalone = [p for p in pieces if p.standalone]
    if not standalone:  # the whole unit cannot fill one grid: one grid, below its floor
        labels[:] = 0
        return UnitSolution(labels, 1, 1, diags, int(prob.penalty(prob.a.sum(), prob.b.sum())), False,
                            time.monotonic() - t0)
    fixed = _share(grids, standalone) if mode == "fixed" and grids is not None else None
    if diags:  # proven that no plan is fully legal: rescue polishes, which only look for one, are moot
        effort = replace(effort, rescue=0)
    labels, lower, hit = _solve_pieces(prob, standalone, fixed, mode, rng, effort, deadline, diags, lower)
    _attach_islands(prob, labels)
    wl = prob.workload
    for _ in range(CALIBRATION_ROUNDS if wl is not None else 0):
        exact = wl.exact_hours(labels)
        if not (exact["hours_month"] > wl.ceiling + 1e-9).any():
            break
        # the proxy underestimated the walking somewhere: scale it to the worst grid's ratio and search again
        ratio = (exact["walk_hours"] / exact["proxy_walk_hours"].where(exact["proxy_walk_hours"] > 0)).max()
        if not np.isfinite(ratio) or ratio <= wl.proxy.walk_scale:
            break
        wl = wl.calibrated(CALIBRATION_MARGIN * ratio / wl.proxy.walk_scale)
        again = replace(prob, workload=wl)
        diags_again = [d for d in diags if d.code != "no_legal_plan"]
        lab2, lower2, hit2 = _solve_pieces(again, standalone, fixed, mode, rng, effort, deadline, diags_again,
                                           unit_bounds(prob, pieces)[0])
        _attach_islands(prob, lab2)
        if _hours_over(prob, lab2) <= _hours_over(prob, labels):
            labels, lower, hit, diags = lab2, lower2, hit or hit2, diags_again
    if fixed is not None and sum(fixed) != grids:
        diags.append(Diagnosis(prob.unit_id, "grids_out_of_range",
                               f"{prob.unit_id}：要求 {grids} 个网格，但有 {len(standalone)} 个互不相邻的片区，"
                               f"至少需要 {len(standalone)} 个 (more pieces than requested grids)"))
    if mode == "fixed" and grids is not None and not (lower <= grids <= upper):
        diags.append(Diagnosis(prob.unit_id, "grids_out_of_range",
                               f"{prob.unit_id}：指定 {grids} 个网格，超出可行范围 {lower}–{upper} 个，必有网格不达标 "
                               f"(requested {grids} grids, outside the feasible range {lower}-{upper})"))
    penalty = LocalSearch(replace(prob, workload=None), labels, mode).penalty()  # households outside the limits
    if penalty and not diags:
        diags.append(not_found(prob, penalty))
    return UnitSolution(labels, lower, upper, diags, penalty, hit, time.monotonic() - t0)


def _solve_pieces(prob: UnitProblem, standalone: list[PieceBounds], fixed: list[int] | None, mode: str,
                  rng: np.random.Generator, effort: Effort, deadline: float | None, diags: list[Diagnosis],
                  lower: int) -> tuple[np.ndarray, int, bool]:
    """Labels of the standalone pieces' homes (others -1), the lower bound raised by the exact search's
    proven minima, and whether the deadline cut in; proofs of no legal plan are appended to ``diags``."""
    labels = np.full(prob.n, -1, dtype=np.int64)
    nxt, hit = 0, False
    for i, piece in enumerate(standalone):
        sub = prob.subset(piece.homes)
        pins = 0 if sub.pin is None else len(np.unique(sub.pin[sub.pin >= 0]))  # each needs its own grid
        lo, hi = max(piece.lower, pins), max(piece.upper, pins)
        if fixed is not None:
            ks = [fixed[i]]
        elif lo > hi:
            ks = [lo]
        else:
            ks = list(range(lo, hi + 1))
        settle = (mode == "fewest" and not diags and sub.n <= EXACT_MAX_HOMES
                  and not (deadline is not None and time.monotonic() > deadline))
        lab, _, h, found = _solve_piece(sub, ks, mode, rng, effort, deadline, settle)
        if found is not None and found.grids is not None:
            lower += max(lo, found.grids) - lo  # the proven minimum replaces a weaker lower bound
        elif found is not None:
            where = "" if len(standalone) == 1 else f"片区（含 {home_names(prob, piece.homes, 2)}）"
            diags.append(Diagnosis(prob.unit_id, "no_legal_plan",
                                   f"{prob.unit_id}：穷举搜索证明{where}不存在合规方案——无论怎样划分连片网格，总有网格超过上限 "
                                   f"{prob.A} 户或达不到下限 {prob.B} 户 (exhaustive search: no legal plan exists)"))
        labels[piece.homes] = lab + nxt
        nxt += int(lab.max()) + 1
        hit |= h
    return labels, lower, hit


def _hours_over(prob: UnitProblem, labels: np.ndarray) -> tuple[float, int]:
    """Exact hours above the ceiling summed over the grids, then the number of grids (smaller is better)."""
    exact = prob.workload.exact_hours(labels)
    return float((exact["hours_month"] - prob.workload.ceiling).clip(lower=0).sum()), int(labels.max()) + 1


def _attach_islands(prob: UnitProblem, labels: np.ndarray) -> None:
    """Homes not yet labelled (pieces too small to stand alone) join the grid of the nearest labelled home."""
    if prob.pin is not None:  # a pinned island home goes where the other homes of its grid went
        for v in np.flatnonzero((labels < 0) & (prob.pin >= 0)).tolist():
            same = np.flatnonzero((prob.pin == prob.pin[v]) & (labels >= 0))
            labels[v] = labels[same[0]] if len(same) else labels.max() + 1
    todo = np.flatnonzero(labels < 0)
    if len(todo) == 0:
        return
    done = np.flatnonzero(labels >= 0)
    if np.isfinite(prob.xy).all():
        from scipy.spatial import cKDTree

        _, near = cKDTree(prob.xy[done]).query(prob.xy[todo])
        labels[todo] = labels[done[near]]
    else:
        labels[todo] = labels[done[0]]
