"""What a report page is made from, as one key: a page whose key is unchanged since the last run is kept.

A repeated ``gridsim report`` used to execute every page again even when nothing it shows could have changed;
the stored results made that faster, but the charts were still drawn and the HTML made again. A page is
the output of: its notebook (the file's bytes), the parameters passed to it (paths, seeds, draws …), the
data it reads (the bytes of the register, units, barriers and cases files — or of the embedded data set),
the scenario's stored plan (its id), the effective policy of its scenario (every parameter's
value, range, kind and valid interval: :func:`gridsim.result_cache.policy_state`), the package's code and
policy/scenario files (:func:`gridsim.result_cache.code_digest`), and the installed libraries (every
distribution's name and version: an upgrade of numpy may change random streams, one of matplotlib the
pictures). :func:`page_key` hashes all of it; ``gridsim report`` keeps a page whose manifest entry has the
same key, ran to the end and whose files are still there, and says so in the index (``--rerun`` makes every
page again).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from .paths import SHIHE_DIR

DATA_PARAMETERS = ("homes_path", "units_path", "barriers_path", "cases_path")


def _file_digest(h, path: Path) -> None:
    h.update(path.name.encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def data_digest(parameters: Mapping[str, Any]) -> str:
    """The bytes of every data file a page may read: the user's files (with their sidecars: a shapefile's
    .dbf/.shx/.prj beside it) or, without a register, the embedded data set."""
    h = hashlib.sha256()
    files: list[Path] = []
    if not parameters.get("homes_path"):
        files += sorted(p for p in SHIHE_DIR.rglob("*") if p.is_file())
    for key in DATA_PARAMETERS:
        if parameters.get(key):
            path = Path(parameters[key])
            files += sorted(p for p in path.parent.glob(f"{path.stem}.*") if p.is_file())
    for path in files:
        _file_digest(h, path)
    return h.hexdigest()


@lru_cache(maxsize=1)
def libraries_digest() -> str:
    """Every installed distribution's name and version (read once per process)."""
    from importlib.metadata import distributions

    found = sorted({(d.metadata["Name"] or "", d.version) for d in distributions()})
    return hashlib.sha256(json.dumps(found).encode()).hexdigest()


def page_key(notebook: Path, parameters: Mapping[str, Any], policy, *, data: str, plan: Any) -> str:
    """The key of one page: see the module docstring. ``data``: :func:`data_digest` of the run's parameters;
    ``plan``: the id of the scenario's stored plan (None without one; not the optimizer's seconds, which
    change from run to run)."""
    from .result_cache import code_digest, policy_state

    text = json.dumps({"notebook": hashlib.sha256(Path(notebook).read_bytes()).hexdigest(),
                       "parameters": dict(parameters), "data": data, "plan": plan,
                       "policy": policy_state(policy), "code": code_digest(), "libraries": libraries_digest()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
