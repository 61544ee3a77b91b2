"""Stored solutions of single units, so a changed rule re-solves only the units it changes.

A report partitions the same register under many policies (page 06: thirteen scenarios; page 07: the
community cap at 400/450/500). A change of the community cap leaves every village unit's problem as it
was, and ``village_registered_households`` leaves every community unit as it was; the optimizer is
deterministic given a unit's problem, mode, seed and effort, so those units would be solved again to the
same answer. :func:`lookup` and :func:`store` keep each unit's :class:`~.solve.UnitSolution` in a folder,
one pickle per unit, under :func:`unit_key`.

The key covers everything :func:`~.solve.solve_unit` reads: the whole :class:`~.problem.UnitProblem`
(every field, found through :func:`dataclasses.fields` so a field added later is covered without a change
here: arrays by dtype, shape and bytes, object arrays element by element, nested dataclasses, mappings and
plain objects such as the workload proxy by their content — never ``hash()`` or ``id()``, which differ
between processes), the mode, the unit's :class:`numpy.random.SeedSequence` (entropy, spawn key, pool
size), the fixed grid count, the :class:`~.solve.Effort`, and :func:`gridsim.result_cache.code_digest` (so
changed code never serves an old solution). A value of a type the digest does not know is a ``TypeError``,
not a silent omission.

The deadline is not in the key: the search counts its effort in tries and the deadline only cuts them
short, which the solution reports (``hit_deadline``); such a solution depends on timing and is not stored.

Writes go to a temporary file renamed into place (:func:`gridsim.result_cache.write_pickle`), so two report
lanes sharing the folder never read half a file; a file that cannot be read, or holds another key or a solution of the wrong shape,
is a miss (the unit is solved again and the file overwritten); a folder that cannot be written only loses
the saving. Two runs that miss the same unit at once (the report partitions several scenarios in parallel
processes, and the baseline and ``village_registered_households`` share every community) would both
solve it: :class:`Claims` lets the first take the unit (an exclusive ``flock`` on ``<key>.lock``), and
the second solves its other units first and then waits for that one and reads it. Like any pickle, the
folder is to be read only when one trusts it (the report writes it itself).
"""

from __future__ import annotations

import dataclasses
import contextlib
import hashlib
import os
import pickle
import struct
from pathlib import Path
from typing import Any, Mapping

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no flock; runs sharing a folder may then solve a unit twice (still correct)
    fcntl = None

from ..result_cache import code_digest, write_pickle
from .problem import UnitProblem
from .solve import Effort, UnitSolution

#: part of every key: raise it when the stored layout changes
FORMAT = "unit-solution-1"


def _feed(h, value: Any) -> None:
    """Feed ``value``'s content into the hash ``h``, each part tagged with its kind (so ``1``, ``1.0``,
    ``"1"`` and ``[1]`` differ) and sequences with their length."""
    if value is None:
        h.update(b"N")
    elif isinstance(value, (bool, np.bool_)):
        h.update(b"B1" if value else b"B0")
    elif isinstance(value, (int, np.integer)):
        text = str(int(value)).encode()
        h.update(b"I" + struct.pack("<Q", len(text)) + text)
    elif isinstance(value, (float, np.floating)):
        h.update(b"F" + struct.pack("<d", float(value)))
    elif isinstance(value, str):
        text = value.encode("utf-8")
        h.update(b"S" + struct.pack("<Q", len(text)) + text)
    elif isinstance(value, np.ndarray):
        h.update(b"A" + value.dtype.str.encode() + struct.pack("<Q", value.ndim)
                 + struct.pack(f"<{value.ndim}Q", *value.shape))
        if value.dtype.hasobject:
            for item in value.ravel(order="C").tolist():
                _feed(h, item)
        else:
            h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (list, tuple)):
        h.update((b"L" if isinstance(value, list) else b"T") + struct.pack("<Q", len(value)))
        if value and all(type(v) is int for v in value):  # neighbour lists: one array, not one update each
            _feed(h, np.asarray(value, dtype=np.int64))
        elif value and all(type(v) is float for v in value):
            _feed(h, np.asarray(value, dtype=np.float64))
        else:
            for v in value:
                _feed(h, v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _feed_named(h, type(value), [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)])
    elif isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: repr(kv[0]))
        h.update(b"M" + struct.pack("<Q", len(items)))
        for k, v in items:
            _feed(h, k)
            _feed(h, v)
    elif hasattr(value, "__dict__") and type(value).__module__.startswith("gridsim."):
        _feed_named(h, type(value), sorted(vars(value).items()))  # e.g. the workload proxy: its state
    else:
        raise TypeError(f"unit cache: cannot digest a {type(value).__qualname__} (add it to _feed)")


def _feed_named(h, cls: type, fields: list[tuple[str, Any]]) -> None:
    _feed(h, f"{cls.__module__}.{cls.__qualname__}")
    h.update(b"O" + struct.pack("<Q", len(fields)))
    for name, v in fields:
        _feed(h, name)
        _feed(h, v)


def digest(value: Any) -> str:
    """The sha256 of ``value``'s content (see :func:`_feed`)."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def unit_key(prob: UnitProblem, mode: str, seed_seq: np.random.SeedSequence, k: int | None, effort: Effort) -> str:
    """The key of the solution :func:`~.solve.solve_unit` gives for these inputs (any deadline not hit)."""
    seed = (seed_seq.entropy, tuple(seed_seq.spawn_key), seed_seq.pool_size)
    return digest((FORMAT, code_digest(), prob, mode, seed, k, effort))


def _path(folder: Path, key: str) -> Path:
    return folder / f"{key}.pkl"


def lookup(folder: str | Path, key: str, prob: UnitProblem) -> UnitSolution | None:
    """The stored solution of ``prob`` under ``key``, or None (not stored, unreadable, another key, or
    labels that do not fit the unit)."""
    try:
        with open(_path(Path(folder), key), "rb") as fh:
            stored_key, sol = pickle.load(fh)
    except Exception:  # noqa: BLE001 - any unreadable file (truncated, garbage, old classes) is a miss
        return None
    if stored_key != key or not isinstance(sol, UnitSolution) or sol.hit_deadline:
        return None
    labels = sol.labels
    if not isinstance(labels, np.ndarray) or labels.shape != (prob.n,) or labels.dtype.kind not in "iu" \
            or (prob.n and labels.min() < 0):
        return None
    with contextlib.suppress(OSError):
        os.utime(_path(Path(folder), key))  # used now: the last to go when the cache is pruned
    return sol


def remove_unit(path: Path) -> bool:
    """Delete a stored unit and its claim file unless a process holds its claim (it is solving or storing
    it); True when removed. For pruning the plan cache (:func:`gridsim.scenario_plan.prune_plan_cache`)."""
    lock = path.with_suffix(".lock")
    if fcntl is None:
        path.unlink(missing_ok=True)
        return True
    try:
        fh = open(lock, "a+b")
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        path.unlink(missing_ok=True)
        lock.unlink(missing_ok=True)  # while held: a later claim makes a new file and locks that
        fcntl.flock(fh, fcntl.LOCK_UN)
    return True


def store(folder: str | Path, key: str, sol: UnitSolution) -> bool:
    """Store ``sol`` under ``key`` (atomically); a solution the deadline cut short is not stored. True
    when written."""
    if sol.hit_deadline:
        return False
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_pickle(_path(folder, key), (key, sol))
    except OSError:  # a folder that cannot be written: the plan is made all the same, only not stored
        return False
    return True


class Claims:
    """Exclusive claims on units about to be solved, so two processes sharing the folder do not solve the
    same unit at once. :meth:`take` claims a unit if no one else holds it; :meth:`wait` blocks until the
    holder is done (then the unit is usually stored); :meth:`release` lets go. Lock files stay (removing
    them would let two processes lock two different files of one name)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.held: dict[str, Any] = {}

    def _lock(self, key: str, block: bool) -> bool:
        if fcntl is None:
            return True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fh = open(self.folder / f"{key}.lock", "a+b")
        except OSError:
            return True  # no lock to be had (a folder that cannot be written): solve without one
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        except OSError:
            fh.close()
            return True
        self.held[key] = fh
        return True

    def take(self, key: str) -> bool:
        """Claim the unit of ``key`` unless another process holds it (False then)."""
        return self._lock(key, block=False)

    def wait(self, key: str) -> None:
        """Claim the unit of ``key``, waiting for whoever holds it."""
        self._lock(key, block=True)

    def release(self, key: str) -> None:
        fh = self.held.pop(key, None)
        if fh is not None:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def release_all(self) -> None:
        for key in list(self.held):
            self.release(key)


__all__ = ["unit_key", "lookup", "store", "Claims", "digest", "FORMAT"]
