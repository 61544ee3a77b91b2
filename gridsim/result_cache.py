"""Stored results of the report's long computations, keyed by everything they read, so never stale.

A report run makes the same Monte Carlo several times: pages 00, 04 and 05 of a scenario each price the
same plan (today's map and the optimizer's) with the same policy, seed and draws, and the pages across
scenarios (06, 07: minutes of simulation) are made again on every run though nothing they read changed.
:func:`cached` stores a result under a key and hands it back to the next caller that asks with the same
key; :func:`scenario_budget` is :func:`gridsim.budget.simulate_budget` through it (so the first page of a
scenario that needs the money computes it and the others load it: a lock makes a second page wait for the
first rather than compute it too).

The key is a hash of everything the result depends on, given by the caller as a mapping of plain values
and digests: the register's content and adjacency (:func:`gridsim.scenario_plan.register_hash`), the plan's
assignment (:func:`gridsim.scenario_plan.fingerprint`), the effective policy (:func:`policy_state`: every
parameter's value, range, kind and valid interval, and the scenario's id and title, which results print),
seeds and sample sizes — and always :func:`code_digest`, a hash of the package's source and of its policy
and scenario files. ``__version__`` alone would not do: it does not change while the code does. Any change
of any of these gives another key, so a stored result is never served for other inputs.

The results are stored with :mod:`pickle` in a folder the report itself writes (``reports/.result-cache``);
like any pickle they are to be read only from a folder one trusts. Without a cache folder (a notebook run
on its own) everything is computed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from .paths import POLICY_DIR, ROOT

PACKAGE_DIR = Path(__file__).resolve().parent
#: the files whose content a result may depend on besides its inputs: the code and the shipped rules
CODE_GLOBS = ((PACKAGE_DIR, "**/*.py"), (POLICY_DIR, "**/*"), (ROOT / "data" / "scenarios", "**/*"))

_DIGEST: dict = {}


def code_digest() -> str:
    """A hash of the package's Python source and its policy and scenario files (paths and bytes).

    Kept per process while no file's size or modification time changes (a cheap check of ~60 files); a
    changed file is read again.
    """
    files = sorted({f for base, pattern in CODE_GLOBS for f in base.glob(pattern)
                    if f.is_file() and "__pycache__" not in f.parts})
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if _DIGEST.get("stamp") != stamp:
        h = hashlib.sha256()
        for f in files:
            h.update(str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f).encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
        _DIGEST.update(stamp=stamp, digest=h.hexdigest())
    return _DIGEST["digest"]


def policy_state(policy) -> dict:
    """What a simulation may read of a policy: each parameter's value, range, kind and valid interval, the
    service items, and the scenario's id and title."""
    params = {k: [policy.param(k).value, policy.param(k).range, policy.param(k).kind, policy.param(k).valid]
              for k in sorted(policy.keys())}
    return {"scenario": [policy.scenario.id, policy.scenario.title], "params": params,
            "service_items": repr(policy.service_items)}


def frame_digest(frame: pd.DataFrame | None) -> str | None:
    """A hash of a frame's columns, index and values, its geometries (as WKB) and CRS included (None for
    no frame)."""
    if frame is None:
        return None
    h = hashlib.sha256()
    if hasattr(frame, "geometry") and frame.geometry.name in frame.columns:
        for wkb in frame.geometry.to_wkb():
            h.update(b"\0" if wkb is None else wkb)
        h.update(str(frame.crs).encode())
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    h.update(pd.util.hash_pandas_object(frame.astype(str), index=True).to_numpy().tobytes())
    return h.hexdigest()


def plan_digest(plan) -> dict:
    """The plan as a key: its register (content and adjacency) and its assignment."""
    from .scenario_plan import fingerprint, register_hash

    return {"register": register_hash(plan.homes, plan.graph), "plan": fingerprint(plan)}


def cache_key(kind: str, key: Mapping[str, Any]) -> str:
    """The full key of a result: ``kind``, the caller's ``key`` and the :func:`code_digest`."""
    text = json.dumps({"kind": kind, "key": key, "code": code_digest()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (a second process asking for the same result waits for the first)."""
    import fcntl

    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load(path: Path, full: str):
    """The stored result at ``path`` when it was stored under ``full``; ``(False, None)`` otherwise."""
    try:
        with open(path, "rb") as fh:
            stored_key, value = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
        return False, None
    return (True, value) if stored_key == full else (False, None)


def cached(cache_dir: str | Path, kind: str, key: Mapping[str, Any], compute: Callable[[], Any]) -> tuple[Any, bool]:
    """``compute()``'s result, stored in ``cache_dir`` under ``kind`` and ``key`` (see the module
    docstring); ``(result, True)`` when it came from the cache. No ``cache_dir``: computed, not stored."""
    if not cache_dir:
        return compute(), False
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    full = cache_key(kind, key)
    path = folder / f"{kind}-{full[:24]}.pkl"
    with _locked(path.with_suffix(".lock")):
        found, value = _load(path, full)
        if found:
            with contextlib.suppress(OSError):
                os.utime(path)  # used now: the last to go when the folder is pruned (prune)
            return value, True
        value = compute()
        write_pickle(path, (full, value))
    return value, False


def write_pickle(path: Path, value: Any) -> None:
    """Pickle ``value`` to ``path`` through a temporary file renamed into place, so a reader in another
    process never sees half a file (the result cache here, the unit cache of the optimizer)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


KEEP_BYTES = 1_500_000_000
"""What :func:`prune` leaves of a result cache: about three full reports of every scenario (a 500-draw budget
is ~8 MB); a code change makes every stored result unreachable (:func:`code_digest`), so without pruning
the folder only grows."""


def prune(cache_dir: str | Path, keep_bytes: int = KEEP_BYTES) -> tuple[int, int]:
    """Remove the least recently used results of ``cache_dir`` (by the time each was last stored or read)
    until at most ``keep_bytes`` are left; ``(files removed, bytes freed)``. Each result is removed under
    its lock, so a report reading it at the same time finishes first."""
    folder = Path(cache_dir)
    if not folder.is_dir():
        return 0, 0

    def remove(path: Path) -> bool:
        with _locked(path.with_suffix(".lock")), contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            path.with_suffix(".lock").unlink()
        return True

    return prune_entries(list(folder.glob("*.pkl")), keep_bytes, remove)


def prune_entries(paths: list[Path], keep_bytes: int, remove: Callable[[Path], bool]) -> tuple[int, int]:
    """Least recently used first (by each path's modification time): keep the newest ``paths`` while they fit
    in ``keep_bytes`` and ``remove`` the rest (True when it did); ``(removed, bytes freed)``. A path is a file
    or a folder (its size is that of every file in it)."""
    found = []
    for path in paths:
        with contextlib.suppress(OSError):
            files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
            found.append((path.stat().st_mtime, sum(f.stat().st_size for f in files), path))
    found.sort(key=lambda e: (-e[0], e[2].name))  # newest first
    kept, removed, freed = 0, 0, 0
    for _, size, path in found:
        if kept + size <= keep_bytes:
            kept += size
            continue
        if remove(path):
            removed, freed = removed + 1, freed + size
    return removed, freed


def scenario_budget(plan, policy, *, draws: int, seed: int, cases: pd.DataFrame | None = None,
                    unit_names: Mapping[str, str] | None = None, years: int = 1, cache_dir: str | Path = ""):
    """:func:`gridsim.budget.simulate_budget` of ``plan`` under ``policy`` through the cache in ``cache_dir``:
    one simulation per plan, policy, seed, draws, years, cases and names, whichever page asks first.
    Its ``assessment`` is what :func:`gridsim.assessment.simulate_assessment` gives for the same inputs."""
    from .budget import _is_todays_map, simulate_budget

    def compute():
        return simulate_budget(plan, policy, draws=draws, seed=seed, cases=cases, years=years,
                               unit_names=None if unit_names is None else dict(unit_names))

    if not cache_dir:
        return compute()
    key = {**plan_digest(plan), "policy": policy_state(policy), "draws": int(draws), "seed": int(seed),
           "years": int(years), "unit_names": None if unit_names is None else sorted(dict(unit_names).items()),
           # the cases are read only for today's map (simulate_budget), so only then are they part of the key
           "cases": frame_digest(cases) if _is_todays_map(plan) else None}
    return cached(cache_dir, "budget", key, compute)[0]


def home_cells(homes, units, *, cache_dir: str | Path = ""):
    """:func:`gridsim.maps.home_cells` (each home's Voronoi cell in its unit) through the cache: the
    data, summary-of-plans, budget and assessment pages of every scenario draw their maps on the same
    cells, keyed by the homes and the unit outlines (positions and geometries included)."""
    from .maps import home_cells as compute

    if not cache_dir:
        return compute(homes, units)
    key = {"homes": frame_digest(homes), "units": frame_digest(units)}
    return cached(cache_dir, "cells", key, lambda: compute(homes, units))[0]


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data that is the same in every process for the same content (a pickle is
    not: the same figures pickled in two kernels differ): dataclasses, mappings, sequences, frames,
    arrays and scalars; anything else by its ``repr``."""
    import dataclasses

    import numpy as np

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"@": type(value).__qualname__, **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {"@map": [[_plain(k), _plain(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Series):
        value = value.to_frame()
    if isinstance(value, pd.DataFrame):
        return {"@frame": frame_digest(value), "index": [str(i) for i in value.index]}
    if isinstance(value, np.ndarray):
        return {"@array": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(), "dtype": str(value.dtype),
                "shape": list(value.shape)}
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float):
        return {"@float": repr(value)}  # exact, NaN and infinities included
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return {"@repr": repr(value)}


def inputs_digest(*inputs: Any) -> str:
    """One hash of ``inputs`` by content (:func:`_plain`): frames, series, geometries, arrays, scalars."""
    return hashlib.sha256(json.dumps(_plain(list(inputs)), sort_keys=True).encode("utf-8")).hexdigest()


def stored_png(cache_dir: str | Path, kind: str, key: Mapping[str, Any], draw: Callable[[], Any]) -> bytes:
    """The PNG of the matplotlib figure ``draw()`` makes — as a notebook shows it (tight box, the figure's
    dpi) — stored under ``key`` (content digests: :func:`inputs_digest`) and the code; the figure is
    closed. Maps of the same plan drawn again (a repeated report, a scenario with the same plan) are
    read, not drawn."""

    def compute() -> bytes:
        import matplotlib.pyplot as plt

        fig = draw()
        try:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight")
            return buf.getvalue()
        finally:
            plt.close(fig)

    return compute() if not cache_dir else cached(cache_dir, kind, key, compute)[0]


def stored_file(cache_dir: str | Path, kind: str, inputs: Any, path: str | Path,
                make: Callable[[Path], Any]) -> Path:
    """The file ``make(path)`` writes, made from ``inputs`` (dataclasses, mappings, frames, scalars: the
    key is their content, :func:`_plain`): stored by its bytes in the cache, and written again at ``path``
    when a later caller asks with the same inputs (the leader's summary PDF: embedding the font is most of the summary page's time; the PDF
    carries no date, so the stored bytes are the ones ``make`` would write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cache_dir:
        make(path)
        return path
    digest = inputs_digest(inputs)

    def compute() -> bytes:
        make(path)
        return path.read_bytes()

    data, hit = cached(cache_dir, kind, {"inputs": digest, "name": path.name}, compute)
    if hit:
        path.write_bytes(data)
    return path
