"""``gridsim validate | policy | synth``: check a register, show the policy, regenerate the data set."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import check_scenario, whole


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="校验住户登记册 (validate a homes register)",
                       description="校验住户登记册，列出每一处问题（文件、行、字段）。Validate a homes register.")
    p.add_argument("homes", help="住户登记册 .gpkg / .geojson / .xlsx / .xls / .csv (homes register)")
    p.add_argument("--layer", default="homes",
                   help="GeoPackage 图层名或工作表名 (layer or sheet), 默认 homes（工作簿无此表时读第一个工作表）")
    p.add_argument("--crs", default=None, help="坐标系，如 EPSG:4548 或 EPSG:4490 (CRS of x/y or geometry)")
    p.set_defaults(handler=_validate)

    p = sub.add_parser("policy", help="显示政策参数与情景 (show policy parameters and scenarios)",
                       description="列出方案规则与假设参数；给出 --scenario 时标出被覆盖的值。")
    p.add_argument("--scenario", default=None, help="情景 id 或 YAML 文件 (scenario id or file)")
    p.add_argument("--list", action="store_true", help="只列出情景 (list scenarios only)")
    p.set_defaults(handler=_policy)

    p = sub.add_parser("synth", help="重新生成合成数据 (regenerate the synthetic Shihe data set)",
                       description="用固定种子重新生成内置的合成数据 data/shihe/shihe.gpkg。")
    p.add_argument("--out", default=None, help="输出目录 (output folder), 默认 data/shihe")
    p.add_argument("--seed", type=whole(0), default=None, help="随机种子 (seed), 默认为内置种子")
    p.set_defaults(handler=_synth)


def _validate(args) -> int:
    import warnings

    from ..registers import RegisterWarning, read_homes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegisterWarning)  # printed below, once, without a source line
        homes = read_homes(args.homes, layer=args.layer, crs=args.crs)
    read = homes.attrs.get("read", {})
    how = [f"{label} {read[key]!r}" if key == "separator" else f"{label} {read[key]}"
           for key, label in (("sheet", "工作表 sheet"), ("encoding", "编码 encoding"),
                              ("separator", "分隔符 separator"), ("header_line", "表头行 header line"))
           if key in read]
    if how:
        print("读取 (read): " + ", ".join(how))
    mapping = homes.attrs.get("header_mapping", {})
    if mapping:
        print("列名对应 (header mapping): " + ", ".join(f"{' '.join(h.split())} → {f}" for h, f in mapping.items()))
    for message in homes.attrs.get("warnings", []):
        print(f"警告 (warning): {message}")
    by = homes.groupby(["unit_type"]).agg(units=("unit_id", "nunique"), homes=("home_id", "size"),
                                          households=("households", "sum"),
                                          resident=("resident_households", "sum"))
    print(f"校验通过 (valid): {args.homes}: {len(homes)} 个住户 (homes), "
          f"{int(homes['households'].sum())} 户 (households)")
    print(by.rename(columns={"units": "村社数", "homes": "住户数", "households": "户数", "resident": "常住户数"}).to_string())
    return 0


def _policy(args) -> int:
    from ..policy import list_scenarios, load_policy

    if args.list:
        scenarios = list_scenarios()
        width = max(len(s.id) for s in scenarios) + 2
        for s in scenarios:
            print(f"{s.id:{width}s} {s.title}")
        return 0
    check_scenario(args.scenario)
    pol = load_policy(args.scenario)
    print(f"情景 (scenario): {pol.scenario.id} — {pol.scenario.title}")
    if pol.scenario.description:
        print(" ".join(pol.scenario.description.split()))
    changed = pol.overridden()
    if changed:
        print("相对基线的改动 (changes against the baseline):")
        for key, (base, now) in changed.items():
            p = pol.param(key)
            print(f"  {key}（{p.label}，{p.clause}）: {base} → {now}")
    elif pol.id != "baseline":
        print("相对基线没有改动 (no change against the baseline)")
    print("全部参数 (all parameters):")
    table = pol.table()
    cols = ["参数 key", "取值 value", "单位 unit", "条款 clause", "类别 kind", "基线值 baseline"]
    print(table[cols].to_string(index=False))
    return 0


def _synth(args) -> int:
    from .. import synth

    out = synth.write(args.out or synth.SHIHE_DIR, seed=args.seed if args.seed is not None else synth.SEED)
    print(f"已写出 (written): {Path(out)}")
    return 0
