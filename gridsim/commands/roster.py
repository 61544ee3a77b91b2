"""``gridsim roster``: the printable grid roster (网格划分表) of a plan, one sheet per village/community."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "roster", help="生成网格划分表 Excel (write the printable grid roster of a plan)",
        description="由网格方案生成各村（社区）张贴公示用的网格划分表：每个村（社区）一张工作表，列出各网格的户数、"
                    "常住户数、五必访户数、覆盖的村民组/小区/楼栋，留空网格长、网格员姓名与电话，另有街道汇总表；"
                    "A4 打印设置齐全。Write the grid roster workbook (one sheet per unit and a summary).")
    p.add_argument("plan", help="网格方案 PLAN.csv（home_id,grid_id）(plan file)")
    p.add_argument("--homes", default=None,
                   help="住户登记册 .gpkg / .geojson / .csv (homes register), 默认内置史河数据 (default: the embedded data)")
    p.add_argument("--out", required=True, help="输出 Excel 文件 .xlsx (output workbook), 如 网格划分表.xlsx")
    p.add_argument("--date", default=None,
                   help="方案日期 YYYY-MM-DD (plan date in the titles), 默认为方案文件的修改日期 (default: the plan file's date)")
    p.add_argument("--subdistrict", default=None, help="街道名称 (subdistrict name in the summary title), 默认 史河街道")
    scen = p.add_mutually_exclusive_group()
    scen.add_argument("--scenario", default=None, help="情景 id (scenario id)：备注栏按该情景的限值判断")
    scen.add_argument("--policy", default=None, help="情景 YAML 文件 (scenario file)")
    p.add_argument("--edges", default=None, help="邻接边表 CSV home_a,home_b，替代内置邻接 (edge list)")
    p.add_argument("--layer", default="homes", help="GeoPackage 图层名 (layer), 默认 homes")
    p.add_argument("--crs", default=None, help="坐标系，如 EPSG:4548 (CRS of x/y)")
    p.set_defaults(handler=_roster)


def _plan_date(args) -> dt.date:
    from ..errors import GridsimError

    if args.date is None:
        return dt.date.fromtimestamp(Path(args.plan).stat().st_mtime)
    try:
        return dt.date.fromisoformat(args.date)
    except ValueError:
        raise GridsimError(f"日期格式应为 YYYY-MM-DD (date must be YYYY-MM-DD): {args.date!r}") from None


def _roster(args) -> int:
    from ..errors import GridsimError
    from ..graph import build_graph, graph_from_edges
    from ..paths import SHIHE_GPKG
    from ..plan import Plan
    from ..plan_gpkg import register_layers
    from ..policy import load_policy
    from ..registers import read_homes, read_plan
    from ..roster import SUBDISTRICT, refuse_grids_across_units, write_roster

    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        raise GridsimError(f"输出文件须为 .xlsx (output must be an .xlsx file): {out}")
    source = Path(args.homes) if args.homes else SHIHE_GPKG
    homes = read_homes(source, layer=args.layer, crs=args.crs)
    grid = read_plan(args.plan, homes)
    refuse_grids_across_units(args.plan, homes, grid)
    day = _plan_date(args)
    layers = register_layers(source, ("units", "groups", "barriers"))
    graph = graph_from_edges(homes, args.edges) if args.edges else build_graph(homes, layers["barriers"])
    plan = Plan(homes, graph, grid.to_numpy(dtype=object), load_policy(args.policy or args.scenario))
    path = write_roster(plan, out, units=layers["units"], groups=layers["groups"], plan_date=day,
                        subdistrict=args.subdistrict or SUBDISTRICT)
    summary = plan.summary()
    print(f"村（社区）units: {summary['unit_id'].nunique()}，网格 grids: {len(summary)}，"
          f"户数 households: {int(summary['households'].sum())}，不合规网格 grids breaking rules: {int((~summary['ok']).sum())}")
    print(f"已写出 (written) roster: {path}")
    return 0
