"""The planted bugs of issue 16, one at a time, each in a fresh copy of the package: which tests fail.

Each bug is a text replacement in one module (the original text must occur exactly once). The copy
holds ``gridsim/``, ``data/``, ``tests/`` and ``pyproject.toml`` (the package finds its data beside
itself); the named test files run there with pytest, and every failing test is recorded. A planted bug
that no test fails is reported as SURVIVED and the script exits 1.

Run: ``python benchmarks/mutation/planted.py`` (writes ``benchmarks/mutation/planted.md``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("planted.md")

PLANTED = [
    ("climb() is a no-op", "gridsim/partition/search.py",
     '        """Hill climbing: apply strictly improving single-home moves until none is left."""\n',
     '        """Hill climbing: apply strictly improving single-home moves until none is left."""\n        return 0\n',
     ["tests/test_oracles.py"]),
    ("upper bound on grids +1", "gridsim/partition/bounds.py",
     "upper = b // prob.B if prob.B > 0", "upper = b // prob.B + 1 if prob.B > 0",
     ["tests/test_oracles.py"]),
    ("upper bound on grids -1", "gridsim/partition/bounds.py",
     "upper = b // prob.B if prob.B > 0", "upper = b // prob.B - 1 if prob.B > 0",
     ["tests/test_oracles.py"]),
    ("district/subdistrict split swapped for base pay only", "gridsim/budget.py",
     "share_pay * costs[sl, :, :, :2].sum(axis=3)",
     "((1 - share_pay) * costs[sl, :, :, 0] + share_pay * costs[sl, :, :, 1])",
     ["tests/test_budget.py"]),
    ("general-visit deduction points x1.09", "gridsim/assessment.py",
     'pg = float(policy["assessment.rubric.points_per_missed_general_visit"])',
     'pg = 1.09 * float(policy["assessment.rubric.points_per_missed_general_visit"])',
     ["tests/test_money_exact.py", "tests/test_assessment.py"]),
    ("scenario loader drops the last override", "gridsim/policy.py",
     "return base.with_overrides(scen.overrides, scenario=scen)",
     "return base.with_overrides(dict(list(scen.overrides.items())[:-1]), scenario=scen)",
     ["tests/test_scenarios_exact.py"]),
    ("scenario loader applies only the first override", "gridsim/policy.py",
     "return base.with_overrides(scen.overrides, scenario=scen)",
     "return base.with_overrides(dict(list(scen.overrides.items())[:1]), scenario=scen)",
     ["tests/test_scenarios_exact.py"]),
    ("GeoPackage plan: the last polygon touching a home wins", "gridsim/editor/model.py",
     "            if assignment[h] is None:\n                assignment[h] = ids[p]",
     "            assignment[h] = ids[p]",
     ["tests/test_plan_load_edges.py"]),
]


def run_one(name, module, old, new, tests, python) -> tuple[str, list[str], float]:
    with tempfile.TemporaryDirectory(prefix="planted_") as tmp:
        work = Path(tmp)
        for part in ("gridsim", "data", "tests"):
            shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__", "ui"))
        shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
        path = work / module
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            raise SystemExit(f"{name}: the text to replace occurs {text.count(old)} times in {module}")
        path.write_text(text.replace(old, new), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
        t0 = time.monotonic()
        proc = subprocess.run([python, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", "-rf",
                               "--no-header", "-o", "addopts="], cwd=work, env=env, capture_output=True, text=True)
        failed = sorted(set(re.findall(r"^FAILED (\S+)", proc.stdout, flags=re.M)))
        if proc.returncode not in (0, 1):
            failed = failed or [f"pytest exit code {proc.returncode}: {proc.stdout[-300:]}"]
        return ("KILLED" if failed else "SURVIVED"), failed, time.monotonic() - t0


def main() -> int:
    python = sys.executable
    rows = ["# Planted bugs of issue 16 and the tests that fail on them", "",
            "Written by `benchmarks/mutation/planted.py` (each bug alone, in a fresh copy of the package).", "",
            "| planted bug | module | result | failing tests (first 6) | seconds |", "|---|---|---|---|---|"]
    survived = 0
    for name, module, old, new, tests in PLANTED:
        status, failed, secs = run_one(name, module, old, new, tests, python)
        survived += status == "SURVIVED"
        shown = "<br>".join(f"`{f}`" for f in failed[:6]) + (f"<br>… {len(failed)} in all" if len(failed) > 6 else "")
        rows.append(f"| {name} | `{module}` | {status} | {shown or '—'} | {secs:.0f} |")
        print(f"{status:8s} {name}: {len(failed)} failing", flush=True)
    OUT.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
