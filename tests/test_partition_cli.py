"""``gridsim partition`` end to end on a small generated register written as CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.cli import main
from gridsim.partition.instances import village
from gridsim.registers import read_homes, read_plan


@pytest.fixture()
def register_csv(tmp_path):
    homes = pd.concat([village(np.random.default_rng(3), "v1", 5), village(np.random.default_rng(4), "v2", 4,
                                                                           origin=(9000.0, 0.0))], ignore_index=True)
    homes["key_households"] = 0
    path = tmp_path / "homes.csv"
    homes.to_csv(path, index=False)
    return path


def test_cli_writes_plan_summary_and_report(register_csv, tmp_path, capsys):
    out = tmp_path / "out" / "plan.csv"
    code = main(["partition", str(register_csv), "--crs", "EPSG:4548", "--out", str(out), "--seed", "1", "--strict"])
    assert code == 0
    homes = read_homes(register_csv, crs="EPSG:4548")
    plan = read_plan(out, homes)
    assert plan.notna().all()
    summary = pd.read_csv(tmp_path / "out" / "plan_summary.csv", encoding="utf-8-sig")
    assert summary["登记户数（社区为规划户数）households"].sum() == homes["households"].sum()
    assert summary["是否合规 ok"].all()
    report = (tmp_path / "out" / "plan_report.md").read_text(encoding="utf-8")
    assert "下界" in report and "v1" in report and "违规清单" in report
    assert "网格数 grids" in capsys.readouterr().out
    again = tmp_path / "again.csv"
    main(["partition", str(register_csv), "--crs", "EPSG:4548", "--out", str(again), "--seed", "1"])
    assert again.read_text() == out.read_text()


def test_cli_strict_fails_on_violations(tmp_path):
    rows = pd.DataFrame({"home_id": [f"h{i}" for i in range(30)], "unit_id": "tiny", "unit_type": "village",
                         "households": 2, "resident_households": 1, "x": 395_900.0 + np.arange(30) * 10.0,
                         "y": 3_525_750.0})
    path = tmp_path / "tiny.csv"
    rows.to_csv(path, index=False)
    out = tmp_path / "p.csv"
    assert main(["partition", str(path), "--crs", "EPSG:4548", "--out", str(out)]) == 0
    assert "unit_too_small" not in out.read_text()  # the diagnosis is in the report, not the plan
    assert "不足一个网格的下限" in (tmp_path / "p_report.md").read_text(encoding="utf-8")
    assert main(["partition", str(path), "--crs", "EPSG:4548", "--out", str(out), "--strict"]) == 1


def test_cli_bad_edges_write_nothing(register_csv, tmp_path, capsys):
    edges = tmp_path / "edges.csv"
    edges.write_text("home_a,home_b\nv1-z01-h001,nobody\n", encoding="utf-8")
    out = tmp_path / "never.csv"
    code = main(["partition", str(register_csv), "--crs", "EPSG:4548", "--out", str(out), "--edges", str(edges)])
    assert code == 2
    err = capsys.readouterr().err
    assert "nobody" in err and "行 row=1" in err
    assert not out.exists()


def test_cli_fixed_needs_grids(register_csv, tmp_path, capsys):
    code = main(["partition", str(register_csv), "--crs", "EPSG:4548", "--out", str(tmp_path / "x.csv"),
                 "--mode", "fixed"])
    assert code == 2 and "--grids" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
