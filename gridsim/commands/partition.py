"""``gridsim partition``: redraw the grids of every unit and write the plan, a summary and a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import check_scenario, seconds, whole


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
    p.add_argument("--units", default=None, metavar="FILE",
                   help="村社边界 .gpkg/.shp/.geojson，含 unit_id 列，任意坐标系；住户须在所属村社边界内 "
                   "(unit polygons with unit_id, any CRS; each home must lie in its unit)")
    p.add_argument("--units-layer", default=None, help="--units 的图层名 (layer), 默认 units 或唯一图层")
    p.add_argument("--barriers", default=None, metavar="FILE",
                   help="河流/道路线 .gpkg/.shp/.geojson，含 kind 列：river 不可跨越、road 尽量沿路分界；"
                   "替代登记册自带的 barriers 图层 (lines with kind river = hard cut | road = soft; any CRS)")
    p.add_argument("--barriers-layer", default=None, help="--barriers 的图层名 (layer), 默认 barriers 或唯一图层")
    p.add_argument("--roads", default=None, metavar="FILE",
                   help="道路网 .gpkg/.shp/.geojson（线），任意坐标系；_summary.csv 中的行走工时按沿道路的距离计 "
                        "(road network: walking hours in the summary measured along it)")
    scen = p.add_mutually_exclusive_group()
    scen.add_argument("--scenario", default=None, help="情景 id (scenario id), 如 community_cap_400")
    scen.add_argument("--policy", default=None, help="情景 YAML 文件 (scenario file)")
    p.add_argument("--current", default=None,
                   help="现网格列名 (column with today's grids), 默认 current_grid_id（有则用）(used when present)")
    p.add_argument("--mode", choices=("fewest", "repair", "fixed"), default="fewest",
                   help="fewest 最少网格（默认）| repair 修复现网格、少调整 | fixed 指定每村社网格数")
    p.add_argument("--grids", type=whole(1), default=None, help="fixed 模式下每个村社的网格数 (grids per unit for --mode fixed)")
    p.add_argument("--seed", type=whole(0), default=0, help="随机种子 (seed), 默认 0；同一种子同一结果")
    p.add_argument("--time-limit", type=seconds, default=None, help="总时间上限（秒）(time limit in seconds)")
    p.add_argument("--workers", type=whole(1), default=None,
                   help="并行进程数 (worker processes), 默认全部核心 (all cores)；不影响结果 (results do not depend on it)")
    p.add_argument("--layer", default="homes", help="GeoPackage 图层名 (layer), 默认 homes")
    p.add_argument("--crs", default=None, help="坐标系，如 EPSG:4548 (CRS of x/y)")
    p.add_argument("--strict", action="store_true", help="有任何违规时以非零状态退出 (exit 1 if any rule is broken)")
    p.set_defaults(handler=_partition)


def _register_barriers(path: Path):
    """The ``barriers`` layer of a GeoPackage register, if it has one."""
    if path.suffix.lower() != ".gpkg":
        return None
    import pyogrio

    if "barriers" not in [name for name, _ in pyogrio.list_layers(path)]:
        return None
    from ..registers import read_layer

    return read_layer("barriers", path)


def _check_options(args) -> None:
    """Options that contradict each other are refused before any work (not silently ignored)."""
    from ..errors import GridsimError

    if args.grids is not None and args.mode != "fixed":
        raise GridsimError(f"--grids 只用于 --mode fixed，当前模式为 {args.mode}，网格数不会被采用 "
                           f"(--grids needs --mode fixed; with --mode {args.mode} it would be ignored)")
    if args.mode == "fixed" and args.grids is None:
        raise GridsimError("--mode fixed 需要指定网格数 --grids (fixed mode needs --grids)")
    if args.edges and args.barriers:
        raise GridsimError("--barriers 不能与 --edges 同用：给定的邻接边表不再按河流/道路裁剪 "
                           "(--barriers has no effect with --edges: a given edge list is used as it is)")
    check_scenario(args.scenario)
    check_scenario(args.policy, "--policy")


def _partition(args) -> int:
    from ..errors import GridsimError, InputError, Problem
    from ..geography import check_homes_in_units, read_barriers, read_units
    from ..graph import build_graph, graph_from_edges
    from ..outputs import check_outputs, staged
    from ..partition import partition
    from ..partition.report import paths_for
    from ..policy import load_policy
    from ..registers import read_homes
    from ..roads import read_roads

    _check_options(args)
    out = Path(args.out)
    if not out.name or out.is_dir():
        raise GridsimError(f"--out 须为方案文件路径，如 plans/PLAN.csv (must be a plan file path), 得到 got {args.out!r}")
    check_outputs([*paths_for(out).values(), out.with_suffix(".gpkg")],
                  [args.homes, args.edges, args.units, args.barriers, args.roads, args.policy])
    homes = read_homes(args.homes, layer=args.layer, crs=args.crs)
    current = args.current
    if current is not None and current not in homes.columns:
        raise InputError(args.homes, [Problem(args.homes, None, current, None,
                                              "--current 指定的现网格列不存在 (the --current column is not in the register)")],
                         headline="现网格列缺失 (current-grid column missing)")
    if current is None and "current_grid_id" in homes.columns:
        current = "current_grid_id"
    if current is None and args.mode == "repair":
        raise InputError(args.homes, [Problem(args.homes, None, "current_grid_id", None,
                                              "repair 模式需要现网格列，可用 --current 指明 (repair needs today's grids; "
                                              "name the column with --current)")],
                         headline="现网格列缺失 (current-grid column missing)")
    policy = load_policy(args.policy or args.scenario)
    if args.units:
        check_homes_in_units(homes, read_units(args.units, homes.crs, layer=args.units_layer))
    barriers = (read_barriers(args.barriers, homes.crs, layer=args.barriers_layer) if args.barriers
                else _register_barriers(Path(args.homes)))
    roads = read_roads(args.roads, homes) if args.roads else None  # read before the search: bad input fails fast
    if args.edges:
        graph = graph_from_edges(homes, args.edges)
    else:
        graph = build_graph(homes, barriers)
    result = partition(homes, graph, policy=policy, mode=args.mode, grids=args.grids, current=current,
                       seed=args.seed, time_limit=args.time_limit, workers=args.workers)
    with staged(out.parent) as stage:  # the plan, its summary, report and GeoPackage appear together or not at all
        tmp_paths = result.write(stage.dir / out.name, roads)
        tmp_paths["gpkg"] = _write_gpkg(result.plan, args, (stage.dir / out.name).with_suffix(".gpkg"))
    paths = {key: stage.final(path) for key, path in tmp_paths.items()}
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


def _write_gpkg(plan, args, path: Path) -> Path:
    """PLAN.gpkg beside PLAN.csv: grid outlines, homes and units for QGIS (:mod:`gridsim.plan_gpkg`), unit
    outlines from ``--units`` or the register's ``units`` layer when it has one."""
    from ..geography import read_units
    from ..plan_gpkg import register_layers, write_plan_gpkg

    units = (read_units(args.units, plan.homes.crs, layer=args.units_layer) if args.units
             else register_layers(args.homes, ("units",))["units"])
    return write_plan_gpkg(plan, path, units=units)
