"""``gridsim partition``: redraw the grids of every unit and write the plan, a summary and a report."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "partition", help="网格优化划分 (partition homes into grids that meet the plan's limits)",
        description="按方案三(一)划分网格：社区网格规划住户不超过上限、常住户不低于下限，村网格户数在上下限之间，"
                    "不户内分户、不跨村社、连片；默认求最少网格，其次紧凑、保持村民组/小区完整、少调整现网格。"
                    "Partition every unit into contiguous grids within the policy's household limits.")
    p.add_argument("homes", help="住户登记册 .gpkg / .geojson / .csv (homes register)")
    p.add_argument("--out", required=True,
                   help="输出方案 PLAN.csv（home_id,grid_id）；同目录写出 _summary.csv、_report.md 与 PLAN.gpkg（网格轮廓）")
    p.add_argument("--edges", default=None, help="邻接边表 CSV home_a,home_b，替代内置邻接 (edge list replacing the built-in adjacency)")
    scen = p.add_mutually_exclusive_group()
    scen.add_argument("--scenario", default=None, help="情景 id (scenario id), 如 community_cap_400")
    scen.add_argument("--policy", default=None, help="情景 YAML 文件 (scenario file)")
    p.add_argument("--current", default="current_grid_id", help="现网格列名 (column with today's grids), 默认 current_grid_id")
    p.add_argument("--mode", choices=("fewest", "repair", "fixed"), default="fewest",
                   help="fewest 最少网格（默认）| repair 修复现网格、少调整 | fixed 指定每村社网格数")
    p.add_argument("--grids", type=int, default=None, help="fixed 模式下每个村社的网格数 (grids per unit for --mode fixed)")
    p.add_argument("--seed", type=int, default=0, help="随机种子 (seed), 默认 0；同一种子同一结果")
    p.add_argument("--time-limit", type=float, default=None, help="总时间上限（秒）(time limit in seconds)")
    p.add_argument("--workers", type=int, default=None,
                   help="并行进程数 (worker processes), 默认全部核心 (all cores)；不影响结果 (results do not depend on it)")
    p.add_argument("--layer", default="homes", help="GeoPackage 图层名 (layer), 默认 homes")
    p.add_argument("--crs", default=None, help="坐标系，如 EPSG:4548 (CRS of x/y)")
    p.add_argument("--strict", action="store_true", help="有任何违规时以非零状态退出 (exit 1 if any rule is broken)")
    p.set_defaults(handler=_partition)


def _barriers(path: Path):
    """The ``barriers`` layer of a GeoPackage register, if it has one."""
    if path.suffix.lower() != ".gpkg":
        return None
    import pyogrio

    if "barriers" not in [name for name, _ in pyogrio.list_layers(path)]:
        return None
    from ..registers import read_layer

    return read_layer("barriers", path)


def _partition(args) -> int:
    from ..graph import build_graph, graph_from_edges
    from ..partition import partition
    from ..policy import load_policy
    from ..registers import read_homes

    homes = read_homes(args.homes, layer=args.layer, crs=args.crs)
    policy = load_policy(args.policy or args.scenario)
    if args.edges:
        graph = graph_from_edges(homes, args.edges)
    else:
        graph = build_graph(homes, _barriers(Path(args.homes)))
    current = args.current if args.current in homes.columns or args.mode == "repair" else None
    result = partition(homes, graph, policy=policy, mode=args.mode, grids=args.grids, current=current,
                       seed=args.seed, time_limit=args.time_limit, workers=args.workers)
    paths = result.write(args.out)
    paths["gpkg"] = _write_gpkg(result.plan, args)
    units = result.units
    viol = result.plan.violations()
    print(f"网格数 grids: {result.plan.n_grids()}（下界之和 lower bounds: {int(units['lower_bound'].sum())}），"
          f"违规 violations: {len(viol)}，用时 {result.seconds:.1f} 秒")
    for d in result.diagnoses:
        print(f"诊断 diagnosis: {d.message}")
    for key, path in paths.items():
        print(f"已写出 (written) {key}: {path}")
    if args.strict and viol:
        print(f"--strict: 有 {len(viol)} 处违规 ({len(viol)} violation(s))")
        return 1
    return 0


def _write_gpkg(plan, args) -> Path:
    """PLAN.gpkg beside PLAN.csv: grid outlines, homes and units for QGIS (:mod:`gridsim.plan_gpkg`),
    unit outlines from the register's ``units`` layer when it has one. Written to a temporary name in
    the same folder and renamed (inside :func:`write_plan_gpkg`), so it is never left half-written."""
    from ..plan_gpkg import register_layers, write_plan_gpkg

    units = register_layers(args.homes, ("units",))["units"]
    return write_plan_gpkg(plan, Path(args.out).with_suffix(".gpkg"), units=units)
