"""Editor speed: handling one move in Python for a unit of 3,000 homes (target: under 50 ms).

A move in the editor is :meth:`EditorModel.move`: the preview (both grids' counts before/after, the
rules of the touched grids, whether the source grid falls apart), the move itself and the session's
rule-status update; the map additionally re-dissolves the touched grids' outlines. The peer, measured
in the same run on the same data, is what a naive editor would do after each move: rebuild the plan's
tallies and re-check every rule including contiguity (``Plan(...)`` + ``plan.violations()``).

The unit is generated (fixed seed): 3,000 homes in hamlets of a village, 1-3 households each, cut into
20 grids by a 5 x 4 block map. Moves take a random border home (one with a neighbour in another grid)
to a neighbouring grid; every move is undone afterwards so all moves start from the same plan. Two
settings: the unit alone, and the unit added to the embedded subdistrict (about 12,000 homes), which
is what the editor holds when it opens the register. The editor previews on the whole plan:
``Plan.preview_move`` checks only the grids a move touches, so both settings should cost about the same.

Run: ``python benchmarks/bench_editor.py`` (about half a minute).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridsim.editor.model import EditorModel  # noqa: E402
from gridsim.graph import build_graph  # noqa: E402
from gridsim.plan import Plan  # noqa: E402
from gridsim.policy import load_policy  # noqa: E402

SEED = 3000
N_HOMES = 3000
N_MOVES = 200
TARGET_MS = 50.0


def make_unit(seed: int = SEED, n: int = N_HOMES) -> gpd.GeoDataFrame:
    """One village of ``n`` homes in ~60 hamlets, grids from a 5 x 4 block map (deterministic)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([0, 0], [5000, 4000], size=(60, 2))
    which = rng.integers(0, len(centres), size=n)
    xy = centres[which] + rng.normal(0, 70, size=(n, 2))
    hh = rng.integers(1, 4, size=n)
    resident = np.minimum(hh, rng.binomial(hh, 0.8) + 0)
    col = np.clip((xy[:, 0] // 1000).astype(int), 0, 4)
    row = np.clip((xy[:, 1] // 1000).astype(int), 0, 3)
    df = pd.DataFrame({
        "home_id": [f"b{i:05d}" for i in range(n)], "unit_id": "bench", "unit_type": "village",
        "households": hh.astype(np.int64), "resident_households": resident.astype(np.int64),
        "key_households": rng.binomial(1, 0.1, size=n).astype(np.int64),
        "group_id": [f"bench-h{k:02d}" for k in which],
        "current_grid_id": [f"bench-g{r * 5 + c + 1:02d}" for r, c in zip(row, col)],
        "x": 395000.0 + xy[:, 0], "y": 3520000.0 + xy[:, 1],
    })
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["x"], df["y"]), crs="EPSG:4548")


def border_moves(model: EditorModel, rng: np.random.Generator, k: int) -> list[tuple[int, str]]:
    graph = model.plan.graph
    grid = model.grid_of(np.arange(graph.n))
    border = [p for p in model.unit_positions.tolist()
              if any(grid[q] != grid[p] for q in graph.neighbors(p).tolist())]
    picks = rng.choice(border, size=k)
    out = []
    for p in picks.tolist():
        targets = sorted({grid[q] for q in graph.neighbors(p).tolist()} - {grid[p]})
        out.append((p, targets[int(rng.integers(len(targets)))]))
    return out


def ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples):7.2f} ms, p95 {np.percentile(samples, 95):7.2f} ms"


def measure(homes: gpd.GeoDataFrame, label: str) -> bool:
    """Time editor moves in unit ``bench`` of ``homes`` against the full-recompute peer; print; target met?"""
    policy = load_policy()
    graph = build_graph(homes)
    plan = Plan.from_column(homes, graph, "current_grid_id", policy)
    model = EditorModel(plan, unit="bench")
    moves = border_moves(model, np.random.default_rng(SEED), N_MOVES)
    assignment = plan.assignment.to_numpy(dtype=object)
    model.outlines  # cells are built once when the editor opens a register, not per move

    move_t, outline_t, undo_t, peer_t, whole_t = [], [], [], [], []
    for p, target in moves:
        t0 = time.perf_counter()
        check = model.move(target, homes=[p])
        t1 = time.perf_counter()
        for gid in check.counts.index:
            model.outlines.outline(model.plan.members(gid))
        t2 = time.perf_counter()
        model.undo()
        t3 = time.perf_counter()
        move_t.append((t1 - t0) * 1e3)
        outline_t.append((t2 - t0) * 1e3)
        undo_t.append((t3 - t2) * 1e3)
    for p, target in moves[:40]:
        new = assignment.copy()
        new[p] = target
        t0 = time.perf_counter()
        Plan(homes, graph, new, policy).violations()
        t1 = time.perf_counter()
        plan.preview_move([p], target)
        t2 = time.perf_counter()
        peer_t.append((t1 - t0) * 1e3)
        whole_t.append((t2 - t1) * 1e3)

    assert (model.plan.assignment.to_numpy(dtype=object) == assignment).all(), "undo did not restore the plan"
    med_move, med_peer = statistics.median(move_t), statistics.median(peer_t)
    print(f"--- {label}: {graph.n} 住户 homes, {graph.m} 邻接边 edges, {plan.n_grids()} 网格 grids; "
          f"unit bench {len(model.unit_positions)} homes; {N_MOVES} moves")
    print(f"编辑器移动 editor move (preview + move + status):   {ms(move_t)}")
    print(f"  + 两网格轮廓 outlines of the touched grids:        {ms(outline_t)}")
    print(f"撤销 undo:                                          {ms(undo_t)}")
    print(f"对照 peer: full recompute (tallies + all rules):    {ms(peer_t)}")
    print(f"参考 Plan.preview_move alone:                       {ms(whole_t)}")
    print(f"比值 ratio peer / editor move: {med_peer / med_move:.1f}x")
    ok = statistics.median(outline_t) < TARGET_MS
    print(f"目标 target: one move < {TARGET_MS:.0f} ms (median, with outlines): {'达到 met' if ok else '未达到 NOT met'}")
    return ok


def main() -> int:
    from gridsim.registers import read_homes

    unit = make_unit()
    ok = measure(unit, "单独一个单元 the unit alone")
    shihe = read_homes()
    both = gpd.GeoDataFrame(pd.concat([shihe, unit[shihe.columns]], ignore_index=True), crs=shihe.crs)
    ok &= measure(both, "单元加入全街道 the unit inside the whole embedded subdistrict")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
