"""Every command that reads a homes register rejects a bad one the same way: rows named, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest

BAD = """home_id,unit_id,unit_type,households,resident_households,x,y
h1,u1,village,60,30,395000,3525000
h1,u1,village,-2,0,395030,3525010
h3,u1,village,50,40,395060,3525020
"""


def run(*args):
    return subprocess.run([sys.executable, "-m", "gridsim", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "{homes}", "--crs", "EPSG:4548"],
        ["partition", "{homes}", "--crs", "EPSG:4548", "--out", "{out}/plan.csv"],
        ["budget", "--homes", "{homes}", "--out", "{out}", "--draws", "10"],
    ],
    ids=["validate", "partition", "budget"],
)
def test_bad_register_is_named_row_by_row_and_nothing_written(tmp_path, command):
    homes = tmp_path / "homes.csv"
    homes.write_text(BAD, encoding="utf-8")
    out = tmp_path / "out"
    args = [a.format(homes=homes, out=out) for a in command]
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    err = result.stderr
    assert str(homes) in err
    assert "行 row=2" in err and "home_id" in err and "duplicate" in err
    assert "households" in err and "negative" in err
    assert not out.exists() or not any(out.iterdir())


def test_help_is_bilingual():
    result = run("--help")
    assert result.returncode == 0
    for sub in ("validate", "partition", "budget"):
        assert sub in result.stdout
    assert "命令" in result.stdout and "command" in result.stdout


def test_unknown_scenario_is_a_clear_error(tmp_path):
    result = run("policy", "--scenario", "no_such")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "scenario not found" in result.stderr
