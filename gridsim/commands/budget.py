"""``gridsim budget``: price a grid plan — funding need with P5/P50/P95 bands and assessment outcomes."""

from __future__ import annotations

import argparse
import sys

from .options import check_scenario, whole

OUTPUT_FILES = ("assessment.csv", "budget.xlsx", "grids.csv", "summary.csv")  # what write_budget writes
LAST_YEAR = 2100  # a horizon past this is a typo, not a plan


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "budget", help="经费需求与考核模拟 (funding need and assessment simulation)",
        description="模拟一个网格方案的基础工资、办件绩效、宣传奖励、培训经费及月度考核，输出 P5/P50/P95 区间。"
                    "不给 --plan 时按现网格计算。Simulate what a grid plan costs and how its workers fare.")
    p.add_argument("--homes", default=None, help="住户登记册 (homes register), 默认内置史河数据 (default: embedded data)")
    p.add_argument("--layer", default="homes", help="GeoPackage 图层名 (layer), 默认 homes")
    p.add_argument("--crs", default=None, help="坐标系 (CRS of x/y), 如 EPSG:4548")
    p.add_argument("--plan", default=None, help="网格方案 home_id,grid_id CSV (plan from `gridsim partition`); 默认现网格")
    p.add_argument("--cases", default=None,
                   help="平台办件数据 (cases register), 仅用于现网格；默认内置数据的办件 (default: embedded cases)")
    p.add_argument("--scenario", default=None, help="情景 id 或 YAML 文件 (scenario), 默认 baseline")
    p.add_argument("--draws", type=whole(1), default=2000, help="模拟次数 (replicates), 默认 2000")
    p.add_argument("--seed", type=whole(0), default=0, help="随机种子 (seed), 默认 0")
    p.add_argument("--year", type=int, default=None, help="起始年份 (first year), 默认考核试行当年 (year of assessment.start)")
    p.add_argument("--years", type=whole(1), default=1, help="模拟年数 (years), 默认 1")
    p.add_argument("--workers", type=whole(1), default=None, help="线程数 (threads), 默认全部核心 (all cores)")
    p.add_argument("--out", required=True, help="输出目录 (output folder)")
    p.set_defaults(handler=_budget)


def _budget(args) -> int:
    from ..budget import simulate_budget
    from ..graph import build_graph
    from ..outputs import check_output_folder
    from ..paths import SHIHE_GPKG
    from ..plan import Plan
    from ..policy import load_policy
    from ..registers import read_cases, read_homes, read_layer
    from ..workbook import write_budget

    check_scenario(args.scenario)
    check_output_folder(args.out, OUTPUT_FILES, [args.homes, args.plan, args.cases, args.scenario])
    policy = load_policy(args.scenario)
    _check_year(args, policy)
    embedded = args.homes is None
    homes = read_homes(SHIHE_GPKG if embedded else args.homes, layer=args.layer, crs=args.crs)
    graph = build_graph(homes, read_layer("barriers") if embedded else None)
    plan = Plan.from_csv(args.plan, homes, graph, policy) if args.plan else Plan.from_column(homes, graph, policy=policy)
    cases = read_cases(args.cases, policy=policy) if args.cases else (read_cases(policy=policy) if embedded else None)
    names = {}
    if embedded:
        units = read_layer("units")
        names = dict(zip(units["unit_id"], units["name"]))
    result = simulate_budget(plan, policy, args.draws, args.seed, cases=cases, year=args.year,
                             years=args.years, workers=args.workers, unit_names=names)
    for line in result.warnings + list(cases.attrs.get("warnings", []) if cases is not None else []):
        print(line, file=sys.stderr)
    written = write_budget(result, args.out, policy)
    s = result.summary
    show = s[s["item"].str.match(r"^(total|funder:|line:)")]
    print(f"情景 (scenario): {policy.scenario.id}; 网格 (grids): {result.meta['grids']}; "
          f"模拟 (draws): {args.draws}; 种子 (seed): {args.seed}; 办件 (cases): {result.meta['cases_source']}")
    print("年度经费需求 (funding need, yuan per year):")
    for _, r in show.iterrows():
        print(f"  {r['year']} {r['label']:<36s} P5 {r['p5']:>12,.0f}  P50 {r['p50']:>12,.0f}  P95 {r['p95']:>12,.0f}")
    print("已写出 (written): " + ", ".join(str(p) for p in written))
    return 0


def _check_year(args, policy) -> None:
    """The horizon must start no earlier than the plan's assessment trial and end by ``LAST_YEAR``."""
    import pandas as pd

    from ..errors import GridsimError

    if args.year is None:
        return
    first = pd.Period(policy["assessment.start"], freq="M").year
    if not first <= args.year <= LAST_YEAR - args.years + 1:
        raise GridsimError(f"--year 须在 {first}（方案考核试行当年 the year the plan's assessment starts）与 "
                           f"{LAST_YEAR - args.years + 1} 之间 (must be between {first} and "
                           f"{LAST_YEAR - args.years + 1}), 得到 got {args.year}")
