"""Local search: move single homes across grid boundaries while that improves the plan.

The objective is lexicographic and depends on the mode:

* ``fewest`` / ``fixed``: penalty (households outside the limits, and hours above the workload ceiling
  when it applies) → workload balance → cut weight (compactness) → groups split (村民组/小区 kept whole)
  → households moved from today's map;
* ``repair``: penalty → households moved → workload balance → cut weight → groups split.

Workload balance (:mod:`.workload`) is the largest grid's hours in coarse steps; it is 0 when the
ceiling does not apply, so the baseline objective is unchanged. The hours come from the incremental
proxy (O(1) per grid a move); the three largest grids are kept, so weighing a move needs no pass over
all grids (re-ranked once after a move is applied).

A move takes a home on a boundary into a neighbouring grid; it is allowed only when the grid it
leaves stays connected (breadth-first search that stops once the home's same-grid neighbours meet
again), never moves a pinned home (repair with fixed homes) and never empties a grid, so the number
of grids is fixed here (the caller chooses it). Every term of the objective changes by a locally computed delta, so a move costs O(degree) plus the
contiguity check. After hill climbing, a short annealing phase (deterministic given the generator)
accepts compactness-worsening moves with falling probability, never letting the penalty rise, and the
best plan seen is kept.

"Households moved" here uses the heir of each of today's grids (the new grid holding most of its
households when the search starts), matching :meth:`gridsim.plan.Plan.moved_households` closely.
"""

from __future__ import annotations

import math
from operator import add, itemgetter, sub

import numpy as np

from ..graph import separates
from .problem import UnitProblem
from .workload import balance_units, excess_units

# objective terms: 0 penalty, 1 cut weight, 2 groups split, 3 households moved, 4 workload balance
ORDERS = {"fewest": (0, 4, 1, 2, 3), "fixed": (0, 4, 1, 2, 3), "repair": (0, 3, 4, 1, 2)}
TERMS = 5

CLIMB_MAX_PASSES = 30  # hill climbing stops after this many passes over the homes even if still improving
ANNEAL_T_START, ANNEAL_T_END = 0.6, 0.02  # compactness annealing: temperature (in cut weight) falls ...
SECONDARY_WEIGHT = 0.3 / 100.0  # ... and the terms after the cut weigh this much per unit in its score
BOUNDARY_REBUILD = 4  # the boundary list is rebuilt when it grows past this many times the homes
PENALTY_T_START_SHARE, PENALTY_T_START_MIN = 0.08, 2.0  # penalty annealing starts at max(min, share × A) ...
PENALTY_T_END = 0.3  # ... and cools to this
PENALTY_CUT_WEIGHT = 0.01  # cut weight's share in the penalty annealing's energy (a tie-breaker)
RECOMBINE_TRIES = 4  # tree splits scored by the full objective per recombination
NO_SPLIT = np.iinfo(np.int64).max  # a recombination's penalty for cutting above the tree's root (no split)


def _one_choice_free() -> bool:
    """Does ``Generator.integers(1)`` leave the generator as it was? numpy's bounded draw returns the
    only value of a one-value range without drawing, so a move with one neighbouring grid to go to can
    skip the call (about 1 µs each; most boundary homes have one) and the stream, hence the plan, is the same.
    Checked once here rather than assumed, so another numpy cannot change plans silently."""
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    rng.integers(1)
    return rng.bit_generator.state == before


ONE_CHOICE_FREE = _one_choice_free()


class LocalSearch:
    """Mutable labelling of one unit's homes with per-grid sums; see the module docstring."""

    def __init__(self, prob: UnitProblem, labels: np.ndarray, mode: str):
        self.p = prob
        self.a, self.b = prob.a.tolist(), prob.b.tolist()
        self.group = prob.group.tolist()
        self.old = prob.old.tolist()
        self.hh = prob.households.tolist()
        self.order = ORDERS[mode]
        self._pick = itemgetter(*self.order)  # a delta tuple in mode order
        self.A, self.B = prob.A, prob.B
        self.fixed = [False] * prob.n if prob.pin is None else (prob.pin >= 0).tolist()  # pinned: never moves
        self._pinned = np.flatnonzero(prob.pin >= 0) if prob.pin is not None else np.empty(0, dtype=np.int64)
        self.wl = prob.workload.proxy if prob.workload is not None else None
        self.rows = self.wl.rows.tolist() if self.wl is not None else None  # per-home proxy rows as floats
        self._load(labels)
        self.heir = self._heirs()
        self._heir_home = None  # :meth:`_heir_per_home`, worked out when first asked

    def _load(self, labels) -> None:
        """The per-grid sums of labelling ``labels`` (everything that depends on it except the heirs).

        Besides the sums, each grid's penalty terms (``gp``: households outside the limits, ``gw``: hours
        above the workload ceiling in penalty units) are kept, so a move's delta reads them instead of
        working them out again; they are updated by :meth:`apply` for the two grids a move touches."""
        labs = np.asarray(labels, dtype=np.int64)
        self.lab = labs.tolist()
        k = int(labs.max()) + 1 if len(labs) else 0
        self.k = k
        p = self.p
        self.sa = _count(labs, p.a, k)
        self.sb = _count(labs, p.b, k)
        self.cnt = _count(labs, None, k)
        has = p.group >= 0  # homes per (group, grid) pair that has any
        pairs, counts = np.unique(np.column_stack([p.group[has], labs[has]]), axis=0, return_counts=True)
        self.gc: dict[tuple[int, int], int] = dict(zip(map(tuple, pairs.tolist()), counts.tolist()))
        self.gp = [self.pen(self.sa[g], self.sb[g]) for g in range(k)]
        self.gw = [0] * k
        self._ranked = None  # the three largest (hours, grid) of the non-empty grids, worked out when asked
        self._bal = 0
        if self.wl is not None:
            rows = self.wl.rows
            self.ws = [rows[labs == g].sum(axis=0).tolist() for g in range(k)]  # per-grid sums
            self.hrs = [self.wl.hours(s) if self.cnt[g] else 0.0 for g, s in enumerate(self.ws)]
            self.gw = [self.wpen(h) for h in self.hrs]

    def _heirs(self) -> dict[int, int]:
        over: dict[tuple[int, int], int] = {}
        for v, g in enumerate(self.lab):
            if self.old[v] >= 0:
                over[(self.old[v], g)] = over.get((self.old[v], g), 0) + self.hh[v]
        heir: dict[int, tuple[int, int]] = {}
        for (o, g), h in sorted(over.items()):
            if o not in heir or h > heir[o][1]:
                heir[o] = (g, h)
        return {o: g for o, (g, _) in heir.items()}

    def pen(self, sa: int, sb: int) -> int:
        return max(0, sa - self.A) + max(0, self.B - sb)

    def wpen(self, hours: float) -> int:
        """Hours above the workload ceiling in penalty units (0 when it does not apply)."""
        return excess_units(hours, self.wl.ceiling) if self.wl is not None else 0

    def penalty(self) -> int:
        gp, gw, cnt = self.gp, self.gw, self.cnt
        return sum(gp[g] + gw[g] for g in range(self.k) if cnt[g])

    def _rank(self) -> list:
        """The three largest ``(hours, grid)`` among the non-empty grids (all of them when fewer)."""
        if self._ranked is None:
            cnt = self.cnt
            self._ranked = sorted(((h, g) for g, h in enumerate(self.hrs) if cnt[g]), reverse=True)[:3]
            self._bal = balance_units(self._ranked[0][0] if self._ranked else 0.0)
        return self._ranked

    def balance(self) -> int:
        """The largest grid's hours in balance steps (0 when the workload ceiling does not apply)."""
        if self.wl is None:
            return 0
        self._rank()
        return self._bal

    def _balance_after(self, changed: dict[int, float]) -> int:
        """:meth:`balance` once the grids in ``changed`` (at most two) have the hours given there: the
        largest of the others is among the three largest now, so no pass over all grids is needed."""
        top = next((h for h, g in self._rank() if g not in changed), 0.0)
        return balance_units(max([top, *changed.values()]))

    def breaks(self, v: int) -> bool:
        """Would removing ``v`` split its grid (its same-grid neighbours no longer meet)?"""
        return separates(self.p.adj, self.lab, v)

    def _leave(self, v: int) -> tuple[int, int, float]:
        """The part of a move's delta that does not depend on where ``v`` goes: its grid ``p``, the change
        of ``p``'s penalty, and ``p``'s hours after ``v`` leaves (0.0 without the workload ceiling)."""
        p = self.lab[v]
        sa, sb = self.sa[p] - self.a[v], self.sb[p] - self.b[v]
        A, B = self.A, self.B
        dpen = (sa - A if sa > A else 0) + (B - sb if B > sb else 0) - self.gp[p]
        hp = 0.0
        wl = self.wl
        if wl is not None:
            if self.cnt[p] > 1:
                hp = wl.hours(map(sub, self.ws[p], self.rows[v]))
            dpen += excess_units(hp, wl.ceiling) - self.gw[p]
        return p, dpen, hp

    def delta(self, v: int, q: int, w_p: float, w_q: float, leave: tuple | None = None) -> tuple:
        """Objective change (penalty, cut, groups, moved) of moving ``v`` to grid ``q``, in mode order.
        ``leave``: :meth:`_leave` of ``v`` when the caller has it already (the same for every ``q``)."""
        p, dpen, hp = leave if leave is not None else self._leave(v)
        sa, sb = self.sa[q] + self.a[v], self.sb[q] + self.b[v]
        A, B = self.A, self.B
        dpen += (sa - A if sa > A else 0) + (B - sb if B > sb else 0) - self.gp[q]
        dcut = w_p - w_q
        gr = self.group[v]
        dgrp = 0
        if gr >= 0:
            gc = self.gc
            dgrp = (-1 if gc[(gr, p)] == 1 else 0) + (1 if gc.get((gr, q), 0) == 0 else 0)
        dmov = 0
        o = self.old[v]
        if o >= 0:
            h = self.heir.get(o, -1)
            dmov = self.hh[v] * ((q != h) - (p != h))
        dbal = 0
        wl = self.wl
        if wl is not None:
            hq = wl.hours(map(add, self.ws[q], self.rows[v]))
            dpen += excess_units(hq, wl.ceiling) - self.gw[q]
            ranked = self._rank()
            top = next((h for h, g in ranked if g != p and g != q), 0.0)
            dbal = balance_units(max([top, hp, hq])) - self._bal
        return self._pick((dpen, dcut, dgrp, dmov, dbal))

    def apply(self, v: int, q: int) -> None:
        p = self.lab[v]
        av, bv = self.a[v], self.b[v]
        self.sa[p] -= av
        self.sb[p] -= bv
        self.cnt[p] -= 1
        self.sa[q] += av
        self.sb[q] += bv
        self.cnt[q] += 1
        self.gp[p] = self.pen(self.sa[p], self.sb[p])
        self.gp[q] = self.pen(self.sa[q], self.sb[q])
        gr = self.group[v]
        if gr >= 0:
            self.gc[(gr, p)] -= 1
            self.gc[(gr, q)] = self.gc.get((gr, q), 0) + 1
        self.lab[v] = q
        if self.wl is not None:
            row = self.rows[v]
            self.ws[p] = list(map(sub, self.ws[p], row))
            self.ws[q] = list(map(add, self.ws[q], row))
            self.hrs[p] = self.wl.hours(self.ws[p]) if self.cnt[p] else 0.0
            self.hrs[q] = self.wl.hours(self.ws[q])
            self.gw[p] = self.wpen(self.hrs[p])
            self.gw[q] = self.wpen(self.hrs[q])
            self._ranked = None

    def _weights_to(self, v: int) -> tuple[float, dict[int, float]] | None:
        """Cut weight of ``v``'s edges into its own grid and into each other grid (summed in neighbour
        order), or None when every neighbour is in ``v``'s grid (most homes: nothing to move to)."""
        lab = self.lab
        p = lab[v]
        gs = [lab[u] for u in self.p.adj[v]]
        if gs.count(p) == len(gs):
            return None
        w_p = 0.0
        other: dict[int, float] = {}
        for g, w in zip(gs, self.p.adj_w[v]):
            if g == p:
                w_p += w
            else:
                other[g] = other.get(g, 0.0) + w
        return w_p, other

    def _random_move(self, v: int, rng: np.random.Generator) -> tuple[int, tuple] | None:
        """A move of ``v`` into a random neighbouring grid and its objective change, or None when ``v``
        may not move (pinned, alone in its grid, or with no neighbour in another grid)."""
        if self.cnt[self.lab[v]] <= 1 or self.fixed[v]:
            return None
        weights = self._weights_to(v)
        if weights is None:
            return None
        w_p, other = weights
        qs = sorted(other)
        q = qs[int(rng.integers(len(qs)))] if len(qs) > 1 or not ONE_CHOICE_FREE else qs[0]
        return q, self.delta(v, q, w_p, other[q])

    def climb(self, rng: np.random.Generator, max_passes: int = CLIMB_MAX_PASSES) -> int:
        """Hill climbing: apply strictly improving single-home moves until none is left."""
        moves = 0
        zero = (0,) * TERMS
        for _ in range(max_passes):
            improved = 0
            for v in rng.permutation(self.p.n).tolist():
                p = self.lab[v]
                if self.cnt[p] <= 1 or self.fixed[v]:
                    continue
                weights = self._weights_to(v)
                if weights is None:
                    continue
                w_p, other = weights
                best, best_q = zero, -1
                leave = self._leave(v)
                for q, w_q in sorted(other.items()):
                    d = self.delta(v, q, w_p, w_q, leave)
                    if d < best:
                        best, best_q = d, q
                if best_q >= 0 and not self.breaks(v):
                    self.apply(v, best_q)
                    improved += 1
            moves += improved
            if not improved:
                break
        return moves

    def anneal(self, rng: np.random.Generator, steps: int, t0: float = ANNEAL_T_START,
               t1: float = ANNEAL_T_END) -> None:
        """Simulated annealing on the secondary terms; the penalty may never rise. Keeps the best seen."""
        best_lab, best_key = list(self.lab), self.key()
        boundary = [v for v in range(self.p.n) if any(self.lab[u] != self.lab[v] for u in self.p.adj[v])]
        if not boundary or steps <= 0:
            return
        pen_i = self.order.index(0)
        cut_i = self.order.index(1)
        rest = [i for i in range(TERMS) if i not in (pen_i, cut_i)]  # the terms after the cut weight
        cool = t1 / t0
        cur = list(best_key)
        for s in range(steps):
            v = boundary[int(rng.integers(len(boundary)))]
            move = self._random_move(v, rng)
            if move is None:
                continue
            q, d = move
            if d[pen_i] > 0:
                continue
            score = d[cut_i] + SECONDARY_WEIGHT * sum([d[i] for i in rest])
            if d[pen_i] < 0 or score <= 0 or rng.random() < math.exp(-score / (t0 * cool ** (s / steps))):
                if self.breaks(v):
                    continue
                self.apply(v, q)
                cur = [c + x for c, x in zip(cur, d)]
                boundary.extend(self.p.adj[v])
                if len(boundary) > BOUNDARY_REBUILD * self.p.n:
                    boundary = [x for x in set(boundary) if any(self.lab[u] != self.lab[x] for u in self.p.adj[x])]
                    boundary.sort()
                if tuple(cur) < best_key:
                    best_key, best_lab = tuple(cur), list(self.lab)
        self.reset(best_lab)

    def anneal_penalty(self, rng: np.random.Generator, steps: int, t0: float | None = None,
                       t1: float = PENALTY_T_END) -> None:
        """Simulated annealing on the penalty itself (households outside the limits), for tight units
        where no single improving move is left: a home may move even when that makes things worse for a
        while, which lets chains of moves and swaps of large buildings happen. Keeps the best seen."""
        if self.penalty() == 0 or steps <= 0:
            return
        t0 = t0 if t0 is not None else max(PENALTY_T_START_MIN, PENALTY_T_START_SHARE * self.A)
        best_lab, best_key = list(self.lab), self.key()
        pen_i = self.order.index(0)
        cut_i = self.order.index(1)
        n = self.p.n
        cool = t1 / t0
        for s in range(steps):
            v = int(rng.integers(n))
            move = self._random_move(v, rng)
            if move is None:
                continue
            q, d = move
            energy = d[pen_i] + PENALTY_CUT_WEIGHT * d[cut_i]
            if energy <= 0 or rng.random() < math.exp(-energy / (t0 * cool ** (s / steps))):
                if self.breaks(v):
                    continue
                self.apply(v, q)
                if (d[pen_i] < 0 or energy < 0) and not (pen_i == 0 and self.penalty() > best_key[0]):
                    key = self.key()  # (skipped when the penalty, compared first, is already worse)
                    if key < best_key:
                        best_key, best_lab = key, list(self.lab)
                        if key[pen_i] == 0:
                            break
        self.reset(best_lab)

    def recombine(self, rng: np.random.Generator, rounds: int, cost: np.ndarray, tries: int = RECOMBINE_TRIES,
                  until_legal: bool = False) -> int:
        """Merge two neighbouring grids and split the union again along a random spanning tree (as in
        GerryChain's ReCom); among the splits with the least penalty, up to ``tries`` are scored by the
        full objective and the best is kept if it improves on the current plan.

        This moves whole chunks at once, which single-home moves cannot do when big buildings block each
        other. ``cost``: spanning-tree edge costs per edge of the unit (as in construction), used on
        every other round; the rest draw random trees. ``until_legal``: stop as soon as every grid is
        within its limits (compactness is the next phase's job). Returns the number of accepted recombinations.
        """
        from .construct import preorder, spanning_tree

        e = self.p.edges
        if len(e) == 0 or self.k < 2:
            return 0
        accepted = 0
        a, b = self.p.a, self.p.b
        heir_of = self._heir_per_home()
        for r in range(rounds):
            lab = np.asarray(self.lab)
            cut = np.flatnonzero(lab[e[:, 0]] != lab[e[:, 1]])
            if len(cut) == 0:
                break
            bad = [g for g in range(self.k) if self.cnt[g] and (self.gp[g] > 0 or self.gw[g])]
            pick = cut
            if bad:
                is_bad = np.zeros(self.k, dtype=bool)
                is_bad[bad] = True
                hot = is_bad[lab[e[cut, 0]]] | is_bad[lab[e[cut, 1]]]
                if hot.any():
                    pick = cut[hot]
            i = int(pick[rng.integers(len(pick))])
            p, q = int(lab[e[i, 0]]), int(lab[e[i, 1]])
            nodes = np.flatnonzero((lab == p) | (lab == q))
            sel, le = self.p.local_edges(nodes)
            if r % 2:  # alternate geometric trees with random ones (as GerryChain draws) for variety
                tree = spanning_tree(len(nodes), le, cost[sel], rng, jitter=1.0)
            else:
                tree = spanning_tree(len(nodes), le, np.ones(int(sel.sum())), rng, jitter=100.0)
            if len(tree) != len(nodes) - 1:
                continue
            root = int(rng.integers(len(nodes)))
            order, _, size, tin = preorder(len(nodes), tree, root)
            ca = np.concatenate(([0], np.cumsum(a[nodes][order])))
            cb = np.concatenate(([0], np.cumsum(b[nodes][order])))
            pa, pb = ca[tin + size] - ca[tin], cb[tin + size] - cb[tin]
            ta, tb = pa[root], pb[root]
            pen = (np.maximum(0, pa - self.A) + np.maximum(0, self.B - pb)
                   + np.maximum(0, ta - pa - self.A) + np.maximum(0, self.B - (tb - pb)))
            pen[root] = NO_SPLIT
            cand = np.flatnonzero(pen == pen.min())
            if len(cand) > tries:
                cand = rng.choice(cand, size=tries, replace=False)
            cur = lab[nodes]
            pins = np.flatnonzero(np.isin(nodes, self._pinned)) if len(self._pinned) else []
            has_pins = len(pins) > 0
            best_d, best_new = (0,) * TERMS, None
            split_delta = self._split_scorer(nodes, cur, le, sel, p, q, heir_of[nodes])
            for v in cand.tolist():
                side = np.zeros(len(nodes), dtype=bool)
                side[order[tin[v]:tin[v] + size[v]]] = True
                new = np.where(side, p, q)
                if has_pins and (new[pins] != cur[pins]).any():  # pinned homes keep their grid ...
                    new = np.where(side, q, p)  # ... so try the sides the other way round
                    if (new[pins] != cur[pins]).any():
                        continue
                d = split_delta(new)
                if d < best_d:
                    best_d, best_new = d, new
            if best_new is not None:
                for x, g in zip(nodes.tolist(), best_new.tolist()):
                    if self.lab[x] != g:
                        self.apply(x, g)
                accepted += 1
                if until_legal and self.penalty() == 0:
                    break
        return accepted

    def _split_scorer(self, nodes, cur, le, sel, p, q, heir):
        """The objective change (mode order) of relabelling ``nodes`` (all of grids p and q) from ``cur``
        to a given ``new``, as a function of ``new``; ``heir``: the heir grid of each of ``nodes``'
        current grids (-1 for none). What depends only on ``cur`` is worked out once here, since a
        recombination scores several splits of the same two grids."""
        a, b = self.p.a[nodes], self.p.b[nodes]
        w = self.p.weight[sel]
        le0, le1 = le[:, 0], le[:, 1]
        cut_before = w[cur[le0] != cur[le1]].sum()
        grp = self.p.group[nodes]
        has = grp >= 0
        grouped = bool(has.any())
        if grouped:  # distinct (group, grid) pairs after minus before
            g2 = 2 * grp[has]
            pairs_before = np.count_nonzero(np.bincount(g2 + (cur[has] == p)))
        known = heir >= 0
        tracked = bool(known.any())
        if tracked:
            hh = self.p.households[nodes][known]
            heir_k = heir[known]
            off_before = (cur[known] != heir_k).astype(int)
        wl = self.wl
        if wl is not None:
            rows = wl.rows[nodes]
            bal_before = self.balance()

        def split_delta(new) -> tuple:
            dpen = 0
            for g in (p, q):
                on = new == g
                dpen += self.pen(int(a[on].sum()), int(b[on].sum())) - self.gp[g]
            dcut = float(w[new[le0] != new[le1]].sum() - cut_before)
            dgrp = np.count_nonzero(np.bincount(g2 + (new[has] == p))) - pairs_before if grouped else 0
            dmov = int((hh * ((new[known] != heir_k).astype(int) - off_before)).sum()) if tracked else 0
            dbal = 0
            if wl is not None:
                changed = {}
                for g in (p, q):
                    on = new == g
                    changed[g] = wl.hours(rows[on].sum(axis=0)) if on.any() else 0.0
                    dpen += self.wpen(changed[g]) - self.gw[g]
                dbal = self._balance_after(changed) - bal_before
            return self._pick((dpen, dcut, dgrp, dmov, dbal))

        return split_delta

    def reset(self, labels) -> None:
        """Go back to ``labels`` (the best plan seen); the heirs stay those of the start."""
        self._load(np.asarray(labels))

    def cut(self) -> float:
        e = self.p.edges
        if len(e) == 0:
            return 0.0
        lab = np.asarray(self.lab)
        return float(self.p.weight[lab[e[:, 0]] != lab[e[:, 1]]].sum())

    def groups_split(self) -> int:
        per: dict[int, int] = {}
        for (gr, _), c in self.gc.items():
            if c > 0:
                per[gr] = per.get(gr, 0) + 1
        return sum(c - 1 for c in per.values())

    def _heir_per_home(self) -> np.ndarray:
        """The heir grid of each home's current grid (-1 where the home has no current grid); the heirs
        are fixed when the search starts, so this is worked out once."""
        if self._heir_home is None:
            heir = np.array([self.heir.get(o, -1) for o in range(int(self.p.old.max()) + 1)] + [-1], dtype=np.int64)
            self._heir_home = heir[self.p.old]  # old == -1 picks the trailing -1
        return self._heir_home

    def moved(self) -> int:
        heir = self._heir_per_home()
        known = heir >= 0
        return int(self.p.households[known][np.asarray(self.lab)[known] != heir[known]].sum())

    def key(self) -> tuple:
        """The objective as a tuple in mode order (smaller is better)."""
        return self._pick((self.penalty(), self.cut(), self.groups_split(), self.moved(), self.balance()))


def _count(labs: np.ndarray, values: np.ndarray | None, k: int) -> list[int]:
    """Sum of ``values`` (1 each when None) per label ``0..k-1``, added in home order (``add.at`` is
    unbuffered), as Python numbers."""
    if values is None:
        return np.bincount(labs, minlength=k).tolist()
    out = np.zeros(k, dtype=values.dtype)
    np.add.at(out, labs, values)
    return out.tolist()
