"""``gridsim report``: run the notebook suite into reports (executed notebooks, HTML, workbook, index)."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="运行笔记本生成报告 (run the notebooks into reports)",
        description="用 papermill 按情景运行全部笔记本，写出 reports/<情景>/ 下已执行的 .ipynb、不含代码的 HTML、"
        "经费工作簿，以及总目录 index.html。任一笔记本失败时其余照常运行，结束时以非零状态退出。"
        " Run every notebook per scenario into executed notebooks, code-free HTML, the workbook and an index page.",
    )
    p.add_argument("--scenario", action="append", default=None, metavar="NAME",
                   help="情景 id 或 YAML 文件，可重复 (scenario id or file; repeatable), 默认 baseline")
    p.add_argument("--all-scenarios", action="store_true",
                   help="基线与全部内置情景 (the baseline and every shipped scenario)")
    p.add_argument("--out", default=None, help="输出目录 (output folder), 默认 reports/")
    p.add_argument("--notebook", action="append", default=None, metavar="NN",
                   help="只运行这些笔记本，如 01 或 01_data，可重复 (only these notebooks; repeatable)")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                   help="传给声明了该参数的笔记本，值按 YAML 解析，如 draws=50 "
                   "(a notebook parameter, YAML value, passed to notebooks that declare it)")
    p.add_argument("--homes", default=None, metavar="REGISTER",
                   help="用自己的住户登记册运行全部页面 (.gpkg/.geojson/.csv/.xlsx)，默认内置合成数据 "
                   "(run every page on this register instead of the embedded data)")
    p.add_argument("--units", default=None, metavar="FILE",
                   help="村社边界 (unit polygons, any CRS); 无则按住户范围绘出、以编号为名 (else drawn round the homes)")
    p.add_argument("--barriers", default=None, metavar="FILE",
                   help="河流/道路线 (barrier lines with kind river|road, any CRS)")
    p.add_argument("--cases", default=None, metavar="FILE", help="办件数据 (platform cases); 无则用模型抽取的办件")
    p.add_argument("--current", default=None, metavar="COLUMN",
                   help="现网格列名 (column with today's grids), 默认 current_grid_id")
    p.add_argument("--crs", default=None, help="登记册坐标系，如 EPSG:4548 (CRS of the register's x/y; CSV/Excel in metres need it)")
    p.add_argument("--timeout", type=float, default=None,
                   help="每个笔记本的时限（秒）(per-notebook timeout in seconds), 默认 600")
    p.add_argument("--jobs", type=int, default=None, help="同时运行的笔记本数 (notebooks run at once), 默认 CPU 数（至多4）")
    p.add_argument("--no-progress", action="store_true", help="不显示进度条 (no progress bar)")
    p.add_argument("--rerun", action="store_true",
                   help="重新运行全部页面；默认沿用输入、代码均未变的页面 (make every page again; by default a page whose "
                        "notebook, parameters, data, plan, policy, code and libraries are unchanged is kept)")
    p.add_argument("--store-checked-outputs", action="store_true",
                   help="开发者用：重新执行 notebooks/ 并只保存 nbval 严格检查单元的输出，不生成报告 "
                   "(developers: refresh the stored outputs of strictly checked cells; no report)")
    p.set_defaults(handler=_report)


def _parse_parameters(items: list[str]) -> dict:
    from ..errors import GridsimError

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise GridsimError(f"参数格式应为 KEY=VALUE (parameter must be KEY=VALUE): {item!r}")
        params[key.strip()] = yaml.safe_load(value)
    return params


def _report(args) -> int:
    from .. import report
    from ..errors import GridsimError
    from ..outputs import check_outputs
    from ..paths import REPORT_DIR
    from ..policy import list_scenarios

    timeout = args.timeout if args.timeout is not None else report.DEFAULT_TIMEOUT_S
    if args.store_checked_outputs:
        for path in report.suite(args.notebook):
            n = report.store_checked_outputs(path, timeout=timeout)
            print(f"已更新 (updated) {path.name}: {n} 个严格检查单元 (checked cells)")
        return 0
    if args.all_scenarios:
        scenarios = [s.id for s in list_scenarios()] + list(args.scenario or [])
    else:
        scenarios = args.scenario or ["baseline"]
    out = Path(args.out) if args.out else REPORT_DIR
    parameters = _parse_parameters(args.parameter)
    inputs = {"homes_path": args.homes, "units_path": args.units, "barriers_path": args.barriers,
              "cases_path": args.cases, "current": args.current, "crs": args.crs}
    if not args.homes and any(inputs.values()):
        raise GridsimError("--units/--barriers/--cases/--current/--crs 须与 --homes 同用 (need --homes)")
    for key, value in inputs.items():
        if value:
            path_like = key.endswith("_path")
            if path_like and not Path(value).is_file():
                raise GridsimError(f"找不到文件 (file not found): {value}")
            parameters[key] = str(Path(value).resolve()) if path_like else value
    check_outputs([out / "index.html"], [v for k, v in inputs.items() if v and k.endswith("_path")])
    summary = report.run_reports(scenarios, out, notebooks=args.notebook, parameters=parameters,
                                 timeout=timeout, jobs=args.jobs, progress=not args.no_progress,
                                 rerun=args.rerun)
    kept = sum(r.status == "ok" and r.kept for r in summary.results)
    ran = sum(r.status == "ok" for r in summary.results) - kept
    shared = sum(r.status == "shared" for r in summary.results)
    print(f"完成 (done): {ran + kept + shared}/{len(summary.results)} 个页面成功 (pages ok: {ran} 运行 run, {kept} 未变沿用 "
          f"kept, {shared} 共用 shared), 用时 (time) {summary.seconds:.1f} s; 目录 (index): {summary.index}")
    for r in summary.results:
        print(f"  {r.scenario}/{r.notebook}: {r.status} {r.seconds:.1f} s" + (f" — {r.message}" if r.message else ""))
    return 1 if summary.failed else 0
