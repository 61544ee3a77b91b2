"""Cases from a bad-input sweep: each is exit 2 (or a quiet 130/141) with a named file or option, and
nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridsim.cli import main
from gridsim.errors import GridsimError, InputError
from gridsim.outputs import check_outputs, staged
from gridsim.partition.instances import village
from gridsim.paths import SHIHE_GPKG
from gridsim.registers import read_homes, read_plan

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gridsim", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=ROOT, **kw)


@pytest.fixture()
def register(tmp_path):
    homes = pd.concat([village(np.random.default_rng(3), "v1", 3),
                       village(np.random.default_rng(4), "v2", 3, origin=(9000.0, 0.0))], ignore_index=True)
    homes["key_households"] = 0
    path = tmp_path / "homes.csv"
    homes.to_csv(path, index=False)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _partition(register, *extra):
    return ["partition", str(register), "--crs", "EPSG:4548", *extra]


# ---- --out never overwrites an input; outputs all or nothing -------------------------------------------

@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_out_that_is_the_register_is_refused(register, tmp_path, capsys, spelling):
    before = _snapshot(tmp_path)
    if spelling == "same":
        out = register
    elif spelling == "dotted":
        (tmp_path / "sub").mkdir()
        out = tmp_path / "sub" / ".." / register.name
        before = _snapshot(tmp_path)
    else:
        out = tmp_path / "link.csv"
        out.symlink_to(register)
        before = _snapshot(tmp_path)
    code = main(_partition(register, "--out", str(out)))
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "input" in err
    assert _snapshot(tmp_path) == before


def test_budget_out_folder_holding_an_input_name_is_refused(register, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    homes = out / "grids.csv"  # budget writes grids.csv into --out
    homes.write_bytes(register.read_bytes())
    code = main(["budget", "--homes", str(homes), "--crs", "EPSG:4548", "--out", str(out), "--draws", "5"])
    assert code == 2 and "grids.csv" in capsys.readouterr().err
    assert homes.read_bytes() == register.read_bytes() and sorted(os.listdir(out)) == ["grids.csv"]


def test_interrupt_while_writing_keeps_the_old_plan_set(register, tmp_path, monkeypatch, capsys):
    out = tmp_path / "plans" / "plan.csv"
    assert main(_partition(register, "--out", str(out), "--seed", "1")) == 0
    old = _snapshot(tmp_path / "plans")
    assert sorted(old) == ["plan.csv", "plan.gpkg", "plan_report.md", "plan_summary.csv"]

    import gridsim.partition.report as report

    def interrupted(result):  # Ctrl-C after the plan and the summary were written, before the report
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "render", interrupted)
    code = main(_partition(register, "--out", str(out), "--seed", "2"))
    assert code == 130 and capsys.readouterr().err.strip() == "已中断 (interrupted)"
    assert _snapshot(tmp_path / "plans") == old  # no new plan beside the old summary, no temporaries


def test_staged_moves_all_files_or_none(tmp_path):
    dest = tmp_path / "new" / "deeper"
    with pytest.raises(RuntimeError):
        with staged(dest) as stage:
            (stage.dir / "a.csv").write_text("1")
            raise RuntimeError("fails half way")
    assert not (tmp_path / "new").exists()  # the folders it made are gone again
    with staged(dest) as stage:
        (stage.dir / "a.csv").write_text("1")
        (stage.dir / "b.md").write_text("2")
    assert stage.written == [dest / "a.csv", dest / "b.md"] and sorted(os.listdir(dest)) == ["a.csv", "b.md"]
    with pytest.raises(GridsimError, match="input"):
        check_outputs([dest / "a.csv"], [tmp_path / "new" / "deeper" / ".." / "deeper" / "a.csv"])


def test_budget_workbook_is_byte_identical_between_runs(register, tmp_path):
    args = ["budget", "--homes", str(register), "--crs", "EPSG:4548", "--draws", "20", "--seed", "4"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    time.sleep(1.1)  # a timestamp in seconds would differ now
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    assert set(a) == {"assessment.csv", "budget.xlsx", "grids.csv", "summary.csv"}
    assert a == b


# ---- exit codes -----------------------------------------------------------------------------------------

def test_unwritable_out_is_exit_2_before_any_work(register, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        target = ro if not os.access(ro, os.W_OK) else Path("/sys")  # root may write anywhere but /sys
        if target == Path("/sys") and not target.is_dir():
            pytest.skip("no folder this user cannot write into")
        result = run(*_partition(register, "--out", str(target / "sub" / "plan.csv")))
    finally:
        ro.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert str(target) in result.stderr and "Traceback" not in result.stderr and "内部错误" not in result.stderr
    assert not (target / "sub").exists()


def test_permission_denied_while_writing_is_exit_2(register, tmp_path, monkeypatch, capsys):
    def denied(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", denied)
    out = tmp_path / "plan.csv"
    code = main(_partition(register, "--out", str(out)))
    err = capsys.readouterr().err
    assert code == 2 and str(out.parent) in err and "Permission denied" in err
    assert sorted(os.listdir(tmp_path)) == ["homes.csv"]


@pytest.mark.parametrize("case", ["parent_is_file", "is_folder", "empty"])
def test_bad_out_path_is_exit_2(register, tmp_path, capsys, case):
    out = {"parent_is_file": register / "plan.csv", "is_folder": tmp_path, "empty": ""}[case]
    before = _snapshot(tmp_path)
    code = main(_partition(register, "--out", str(out)))
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "内部错误" not in err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("command", [
    ["partition", "{homes}", "--crs", "EPSG:4548", "--out", "{tmp}/p.csv", "--seed", "-1"],
    ["budget", "--out", "{tmp}/b", "--seed", "-1"],
    ["synth", "--out", "{tmp}/s", "--seed", "-1"],
    ["partition", "{homes}", "--crs", "EPSG:4548", "--out", "{tmp}/p.csv", "--time-limit", "-5"],
    ["partition", "{homes}", "--crs", "EPSG:4548", "--out", "{tmp}/p.csv", "--time-limit", "nan"],
    ["partition", "{homes}", "--crs", "EPSG:4548", "--out", "{tmp}/p.csv", "--workers", "0"],
    ["budget", "--out", "{tmp}/b", "--draws", "0"],
], ids=["partition-seed", "budget-seed", "synth-seed", "time-limit", "time-limit-nan", "workers", "draws"])
def test_bad_option_values_are_exit_2_naming_the_option(register, tmp_path, capsys, command):
    args = [a.format(homes=register, tmp=tmp_path) for a in command]
    code = main(args)
    err = capsys.readouterr().err
    option = command[-2]
    assert code == 2 and option in err and "须为" in err and "must be" in err
    assert sorted(os.listdir(tmp_path)) == ["homes.csv"]


@pytest.mark.parametrize("command", [
    ["partition", "{homes}", "--crs", "EPSG:4548", "--out", "{tmp}/p.csv", "--scenario", "{tmp}/scen"],
    ["partition", "{homes}", "--crs", "EPSG:4548", "--out", "{tmp}/p.csv", "--policy", "{tmp}/scen"],
    ["budget", "--out", "{tmp}/b", "--scenario", "{tmp}/scen"],
    ["policy", "--scenario", "{tmp}/scen"],
], ids=["partition", "partition-policy", "budget", "policy"])
def test_scenario_naming_a_folder_is_exit_2(register, tmp_path, capsys, command):
    (tmp_path / "scen").mkdir()
    code = main([a.format(homes=register, tmp=tmp_path) for a in command])
    err = capsys.readouterr().err
    assert code == 2 and "not a folder" in err and str(tmp_path / "scen") in err
    assert sorted(os.listdir(tmp_path)) == ["homes.csv", "scen"]


def test_closed_pipe_is_a_quiet_exit(register):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "gridsim", "validate", str(register), "--crs", "EPSG:4548"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    p.stdout.close()  # the reader is gone before the first line (as `| head -0`)
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141
    assert err == ""
    shell = subprocess.run(["bash", "-c", f"{sys.executable} -m gridsim policy | head -1; echo rc=${{PIPESTATUS[0]}}"],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert shell.stderr == "" and shell.stdout.splitlines()[-1] in ("rc=0", "rc=141")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to see the worker processes")
def test_ctrl_c_on_the_process_group_is_one_line_and_exit_130(tmp_path):
    out = tmp_path / "plan.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "gridsim", "partition", str(SHIHE_GPKG), "--out", str(out),
                          "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not _children(p.pid) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if p.poll() is not None:
        pytest.skip("the run ended before its worker pool started")
    time.sleep(0.2)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err.strip() == "已中断 (interrupted)"  # no worker traceback
    assert sorted(os.listdir(tmp_path)) == []


# ---- options that used to be ignored without a word ---------------------------------------------------

def test_current_naming_a_missing_column_is_exit_2(register, tmp_path, capsys):
    code = main(_partition(register, "--out", str(tmp_path / "p.csv"), "--current", "grid_2023"))
    err = capsys.readouterr().err
    assert code == 2 and str(register) in err and "grid_2023" in err and "--current" in err
    assert not (tmp_path / "p.csv").exists()


def test_grids_without_fixed_mode_is_exit_2(register, tmp_path, capsys):
    code = main(_partition(register, "--out", str(tmp_path / "p.csv"), "--grids", "3"))
    err = capsys.readouterr().err
    assert code == 2 and "--grids" in err and "--mode fixed" in err
    assert main(_partition(register, "--out", str(tmp_path / "p.csv"), "--grids", "3", "--mode", "repair")) == 2
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("year", ["1900", "2023", "2200"])
def test_budget_year_outside_the_plan_is_exit_2(register, tmp_path, capsys, year):
    code = main(["budget", "--homes", str(register), "--crs", "EPSG:4548", "--out", str(tmp_path / "b"),
                 "--draws", "5", "--year", year])
    err = capsys.readouterr().err
    assert code == 2 and "--year" in err and year in err and "2024" in err
    assert not (tmp_path / "b").exists()


def test_barriers_with_edges_is_exit_2(register, tmp_path, capsys):
    edges = tmp_path / "edges.csv"
    edges.write_text("home_a,home_b\n", encoding="utf-8")
    code = main(_partition(register, "--out", str(tmp_path / "p.csv"), "--edges", str(edges),
                           "--barriers", str(tmp_path / "b.gpkg")))
    assert code == 2 and "--barriers" in capsys.readouterr().err


# ---- a plan grid spanning two units is named in the plan file ----------------------------------------

def test_grid_spanning_units_is_reported_against_the_plan_rows(register, tmp_path, capsys):
    homes = read_homes(register, crs="EPSG:4548")
    plan = pd.DataFrame({"home_id": homes["home_id"], "grid_id": homes["current_grid_id"]})
    v2 = np.flatnonzero(homes["unit_id"].eq("v2").to_numpy())[:2]
    plan.loc[v2, "grid_id"] = plan["grid_id"].iat[0]  # two v2 homes put in a v1 grid
    path = tmp_path / "plan.csv"
    plan.to_csv(path, index=False)
    with pytest.raises(InputError) as exc:
        read_plan(path, homes)
    assert exc.value.source == str(path)
    assert [(p.row, p.field.split("（")[0]) for p in exc.value.problems] == [(int(r) + 1, "grid_id") for r in v2]
    assert f"（文件第 {v2[0] + 2} 行 line {v2[0] + 2}）" in str(exc.value) and "v1" in str(exc.value)
    assert read_plan(path, homes, cross_unit_ok=True).iloc[v2[0]] == plan["grid_id"].iat[0]
    code = main(["budget", "--homes", str(register), "--crs", "EPSG:4548", "--plan", str(path),
                 "--out", str(tmp_path / "b"), "--draws", "5"])
    err = capsys.readouterr().err
    assert code == 2 and f"file={path}" in err and f"file={register}" not in err
    assert not (tmp_path / "b").exists()
