"""Project paths, resolved from the package root and never from the working folder.

The package is installed editable (``pip install -e .``), so the repository root is the parent of the
package directory; notebooks, the CLI and tests all find the shipped data the same way.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
DATA_DIR = ROOT / "data"
POLICY_DIR = DATA_DIR / "policy"
SCENARIO_DIR = DATA_DIR / "scenarios"
SHIHE_DIR = DATA_DIR / "shihe"
SHIHE_GPKG = SHIHE_DIR / "shihe.gpkg"
NOTEBOOK_DIR = ROOT / "notebooks"
REPORT_DIR = ROOT / "reports"
