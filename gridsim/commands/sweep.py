"""``gridsim sweep``: what drives the money — tornado, Morris, Sobol, policy-knob sweeps and break-even, on Dask."""

from __future__ import annotations

import argparse
import sys
import time

from .options import check_scenario, seconds, whole

MODES = ("tornado", "morris", "sobol", "knob")
DEFAULT_DRAWS = {"tornado": 2000, "morris": 100, "sobol": 50, "knob": 500}
DEFAULT_SAMPLES = {"morris": 20, "sobol": 256}

EPILOG = """\
模式 (modes):
  tornado  单因素：每个有区间的假设分别取低值和高值，其余取基线值（同一随机种子），输出年度经费 P50/P95（合计、
           按出资方）和不合格/通报批评/终止协议比例的摆幅
           one at a time: each ranged assumption at its low and high end, the rest at baseline (same seed)
  morris   Morris 筛选 (SALib)：μ*、σ 及 μ* 的自助法置信区间；--samples 为轨迹数，共 samples×(k+1) 次模拟
           Morris screening; --samples trajectories, samples×(k+1) runs
  sobol    Sobol 一阶与总效应指数 (SALib, Saltelli 方案) 及置信区间；--samples N 须为2的幂，共 N×(k+2) 次模拟；
           各参数在其区间上均匀取值
           Sobol S1/ST with intervals; N a power of 2, N×(k+2) runs; factors uniform over their ranges
  knob     政策旋钮扫描：一到两个规则/决策取值（--knob），改变网格规则（grid.*）时重新优化网格；每点给出网格数、
           经费（P5/P50/P95）和考核结果；--break-even 求输出穿越某条线时的旋钮值及其区间（P5/P95）
           one or two rule values; re-partitions where grid rules change; --break-even finds where an output
           crosses a line

参与变化的参数 (factors): 默认全部有区间（range）的参数——经验假设与决策取值——各在其区间内变化；
--params 只选其中一部分，--range KEY=低:高 改用别的区间（须在参数的有效范围 valid 内）。
运行 (execution): 默认在本机启动 Dask 本地集群（--workers 个进程，默认全部核心）；--scheduler 地址 使用现有集群。
结果与工作进程数无关 (results do not depend on the number of workers)。

例 (examples):
  gridsim sweep tornado --out out/tornado
  gridsim sweep sobol --samples 512 --draws 50 --out out/sobol
  gridsim sweep knob --knob grid.community.max_planned_households=400:500:11 --out out/cap
  gridsim sweep knob --knob funding.district_share=0.3:0.7:9 --break-even subdistrict=450000 --out out/share
  gridsim sweep knob --knob pay.base.yuan_per_100_households_month=150:250:5 \\
                     --knob grid.village.count_basis=houses,registered_households --out out/pay
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="经费敏感性分析与政策旋钮扫描 (sensitivity of the funding need, knob sweeps, break-even)",
        description="哪些假设决定经费：单因素（龙卷风图）、Morris、Sobol 全局敏感性、政策旋钮扫描与盈亏平衡点；"
                    "模拟在 Dask 集群上并行运行。What drives the money: tornado, Morris, Sobol, knob sweeps and "
                    "break-even, run on Dask.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=MODES, help="分析模式 (analysis): " + " | ".join(MODES))
    p.add_argument("--homes", default=None, help="住户登记册 (homes register), 默认内置史河数据 (default: embedded data)")
    p.add_argument("--layer", default="homes", help="GeoPackage 图层名 (layer), 默认 homes")
    p.add_argument("--crs", default=None, help="坐标系 (CRS of x/y), 如 EPSG:4548")
    p.add_argument("--plan", default=None,
                   help="网格方案 home_id,grid_id CSV；默认按情景规则优化得到的方案 (default: the optimizer's plan)")
    p.add_argument("--scenario", default=None, help="情景 id 或 YAML 文件 (scenario), 默认 baseline")
    p.add_argument("--params", default=None, metavar="KEY,KEY",
                   help="只变化这些参数（逗号分隔）(vary only these parameters); 默认全部有区间的参数 (default: all ranged)")
    p.add_argument("--range", action="append", default=[], metavar="KEY=LOW:HIGH", dest="ranges",
                   help="改用此区间，可重复 (use this range instead; repeatable)")
    p.add_argument("--samples", type=whole(1), default=None,
                   help="样本数：Morris 轨迹数（默认20）或 Sobol 的 N（2的幂，默认256）(sample size)")
    p.add_argument("--knob", action="append", default=[], metavar="KEY=LOW:HIGH[:POINTS] | KEY=A,B",
                   help="旋钮及其取值，一到两个 (a knob and its values; one or two), 默认11个点 (default 11 points)")
    p.add_argument("--break-even", default=None, metavar="OUTPUT=LINE",
                   help="盈亏平衡：输出（total、district、subdistrict、unqualified、criticism、termination、grids）"
                        "等于 LINE 时的第一个旋钮值 (the first knob's value where OUTPUT crosses LINE)")
    p.add_argument("--draws", type=whole(1), default=None,
                   help="每次模拟的抽样次数 (replicates per run); 默认 tornado 2000、morris 100、sobol 50、knob 500")
    p.add_argument("--uncertain", action="store_true",
                   help="tornado/morris/sobol：其余经验假设仍随机抽取（默认固定在基线值）"
                        "(draw the other empirical unknowns instead of fixing them at baseline)")
    p.add_argument("--seed", type=whole(0), default=0, help="随机种子 (seed), 默认 0；所有模拟共用 (common to all runs)")
    p.add_argument("--year", type=int, default=None, help="模拟年份 (year), 默认考核试行当年")
    p.add_argument("--time-limit", type=seconds, default=None, help="knob：每次网格优化的时限（秒）(optimizer time limit)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="现有 Dask 集群的调度器地址，如 tcp://10.0.0.5:8786 (an existing Dask scheduler); 默认启动本地集群")
    p.add_argument("--workers", type=whole(1), default=None, help="本地集群的工作进程数 (local worker processes), 默认全部核心")
    p.add_argument("--no-progress", action="store_true", help="不显示进度条 (no progress bar)")
    p.add_argument("--out", required=True, help="输出目录 (output folder): sweep.csv, runs.csv, break_even.csv, sensitivity.xlsx")
    p.set_defaults(handler=_sweep)


def _sweep(args) -> int:
    from ..outputs import check_output_folder
    from ..policy import load_policy
    from ..sweep import SWEEP_FILES

    check_scenario(args.scenario)
    check_output_folder(args.out, SWEEP_FILES, [args.homes, args.plan, args.scenario])
    policy = load_policy(args.scenario)
    plan_spec = _check_arguments(args, policy)  # everything a user can get wrong, before any run
    draws = args.draws or DEFAULT_DRAWS[args.mode]
    from ..sweep import dask_client, write_sweep

    started = time.monotonic()
    if args.scheduler:  # an address that does not answer is refused before the data is even read
        with dask_client(args.scheduler) as client:
            homes, graph, plan = _load(args, policy)
            result = _run(args, policy, plan_spec, draws, homes, graph, plan, client)
    else:  # the local cluster starts after the optimizer's own process pool is done
        homes, graph, plan = _load(args, policy)
        with dask_client(None, args.workers) as client:
            result = _run(args, policy, plan_spec, draws, homes, graph, plan, client)
    written = write_sweep(result, args.out)
    _print(result, time.monotonic() - started)
    print("已写出 (written): " + ", ".join(str(p) for p in written))
    return 0


def _check_arguments(args, policy):
    """Parse and check the mode's options; returns the factors (tornado/morris/sobol) or knobs and the
    break-even request (knob)."""
    import pandas as pd

    from ..errors import GridsimError
    from ..sensitivity import check_samples, parse_knob
    from ..sweep import BANDED, OUTPUTS, ranged_factors
    from .budget import LAST_YEAR

    first = pd.Period(policy["assessment.start"], freq="M").year
    if args.year is not None and not first <= args.year <= LAST_YEAR:
        raise GridsimError(f"--year 须在 {first}（方案考核试行当年）与 {LAST_YEAR} 之间 (must be between {first} and "
                           f"{LAST_YEAR}), 得到 got {args.year}")
    if args.mode != "knob":
        for opt, given in (("--knob", args.knob), ("--break-even", args.break_even), ("--time-limit", args.time_limit)):
            if given:
                raise GridsimError(f"{opt} 只用于 knob 模式 (only for the knob mode)")
        if args.mode == "tornado" and args.samples is not None:
            raise GridsimError("--samples 只用于 morris 和 sobol (only for morris and sobol)")
        if args.mode in DEFAULT_SAMPLES:
            check_samples(args.mode, args.samples or DEFAULT_SAMPLES[args.mode])
        keys = [k.strip() for k in args.params.split(",") if k.strip()] if args.params else None
        ranges = dict(_parse_range(text) for text in args.ranges)
        return ranged_factors(policy, keys, ranges)
    for opt, given in (("--params", args.params), ("--range", args.ranges), ("--samples", args.samples),
                       ("--uncertain", args.uncertain)):
        if given:
            raise GridsimError(f"{opt} 不用于 knob 模式 (not used by the knob mode; knobs take --knob)")
    if not 1 <= len(args.knob) <= 2:
        raise GridsimError(f"knob 模式需要一到两个 --knob (the knob mode needs one or two --knob), 得到 got {len(args.knob)}")
    knobs = [parse_knob(policy, text) for text in args.knob]
    if len({k.key for k in knobs}) < len(knobs):
        raise GridsimError("两个 --knob 不能是同一参数 (the two knobs must be different parameters)")
    if args.plan and any(k.changes_grids for k in knobs):
        raise GridsimError("改变网格规则的旋钮会重新优化网格，不能同时给出 --plan (a knob that changes the grid rules "
                           "re-partitions; it cannot be combined with --plan)")
    request = None
    if args.break_even:
        output, sep, line = args.break_even.partition("=")
        outputs = list(BANDED) + [o for o in ("unqualified", "criticism", "termination", "grids") if o in OUTPUTS]
        try:
            value = float(line)
        except ValueError:
            value = None
        if not sep or output not in outputs or value is None:
            raise GridsimError(f"--break-even 格式应为 输出=数值 (must be OUTPUT=NUMBER)，输出可为 (outputs) "
                               f"{', '.join(outputs)}；得到 got {args.break_even!r}")
        if not knobs[0].numeric:
            raise GridsimError(f"--break-even 需要第一个旋钮为数值 (needs a numeric first knob): {knobs[0].key}")
        request = (output, value)
    return knobs, request


def _parse_range(text: str) -> tuple[str, tuple[float, float]]:
    from ..errors import GridsimError

    key, sep, spec = text.partition("=")
    low, sep2, high = spec.partition(":")
    try:
        if not sep or not sep2:
            raise ValueError
        return key.strip(), (float(low), float(high))
    except ValueError:
        raise GridsimError(f"--range 格式应为 KEY=低:高 (must be KEY=LOW:HIGH): {text!r}") from None


def _load(args, policy):
    from ..graph import build_graph
    from ..paths import SHIHE_GPKG
    from ..plan import Plan
    from ..registers import read_homes, read_layer

    embedded = args.homes is None
    homes = read_homes(SHIHE_GPKG if embedded else args.homes, layer=args.layer, crs=args.crs)
    graph = build_graph(homes, read_layer("barriers") if embedded else None)
    plan = Plan.from_csv(args.plan, homes, graph, policy) if args.plan else None
    if plan is None and args.mode != "knob":  # the optimizer's plan, before the cluster starts
        from ..partition import partition

        print("优化网格方案 (optimizing the plan; --plan gives one) …", file=sys.stderr, flush=True)
        plan = partition(homes, graph, policy=policy, seed=args.seed).plan
    return homes, graph, plan


def _run(args, policy, spec, draws, homes, graph, plan, client):
    from .. import sensitivity
    from ..sweep import BudgetRun

    progress = not args.no_progress
    if args.mode == "knob":
        knobs, request = spec
        result = sensitivity.knob_sweep(homes, graph, policy, knobs, draws=draws, seed=args.seed, plan=plan,
                                        time_limit=args.time_limit, year=args.year, client=client, progress=progress)
        if request:
            by = knobs[1].key if len(knobs) == 2 else None
            result.break_even = sensitivity.break_even(result.table, knobs[0].key, *request, by=by)
        return result
    model = BudgetRun({"plan": plan}, policy, draws, args.seed, uncertain=args.uncertain, year=args.year)
    if args.mode == "tornado":
        return sensitivity.tornado(model, spec, client=client, progress=progress)
    n = args.samples or DEFAULT_SAMPLES[args.mode]
    run = sensitivity.morris if args.mode == "morris" else sensitivity.sobol
    return run(model, spec, n, seed=args.seed, client=client, progress=progress)


def _print(result, elapsed: float) -> None:
    m = result.meta
    print(f"{result.mode}: 情景 (scenario) {m.get('scenario')}; 模拟 (runs) {m.get('runs')}; 每次抽样 (draws per run) "
          f"{m.get('draws')}; 工作进程 (workers) {m.get('workers')}; 用时 (seconds) {elapsed:.1f}")
    t = result.table
    if result.mode == "knob":
        cols = [*m["knobs"], "grids", "violations", "total_p50", "subdistrict_p5", "subdistrict_p50", "subdistrict_p95",
                "unqualified"]
        print(t[cols].to_string(index=False, float_format=_num))
        if result.break_even is not None:
            print("盈亏平衡 (break-even):")
            print(result.break_even.drop(columns=["output_label"]).to_string(index=False))
        return
    sel = t[t["output"] == "total_p50"]
    value = {"tornado": "swing", "morris": "mu_star", "sobol": "ST"}[result.mode]
    print(f"年度经费合计 P50 (total P50) — {value}:")
    for _, r in sel.sort_values(value, ascending=False).head(10).iterrows():
        print(f"  {r['key']:<48s} {_num(r[value]):>14s}")
    sys.stdout.flush()


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.4f}"
