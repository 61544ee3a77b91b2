"""The plan's rules and the documented assumptions as one frozen set of parameters.

In the style of OpenFisca / PolicyEngine parameters: ``data/policy/rules.yaml`` holds one entry per
quantitative rule of the plan (value, unit, effective date, clause, quoted text) and
``data/policy/assumptions.yaml`` the values the plan leaves open and the readings of its words that admit
more than one meaning (each with its reason and its ``kind``: reading, choice or empirical). A scenario
(``data/scenarios/<id>.yaml``) is a set of overrides applied to the frozen baseline, producing a new
:class:`Policy`; the baseline is never edited in place. Unknown keys, wrong types, values outside a
parameter's options or valid interval, and overrides that break a cross-parameter constraint (a floor
above its ceiling) are :class:`~gridsim.errors.PolicyError` naming the file and key.

``principles`` in rules.yaml are rules the model enforces by construction (a home is never split): they
carry a clause and a quote for the rules that cite them, but no value to switch.
"""

from __future__ import annotations

import datetime as _dt
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

import numpy as np
import yaml

from .errors import PolicyError
from .paths import POLICY_DIR, SCENARIO_DIR

RULES_FILE = POLICY_DIR / "rules.yaml"
SCENARIO_READ = "@scenario"  # in a read log: the scenario itself (its id, overrides, description) was read
ASSUMPTIONS_FILE = POLICY_DIR / "assumptions.yaml"
BASELINE_ID = "baseline"


@dataclass(frozen=True)
class Parameter:
    """One rule or assumption: its value and where it comes from."""

    key: str
    label: str
    value: Any
    unit: str
    effective: str
    clause: str
    assumption: bool
    quote: str | None = None
    reason: str | None = None
    options: tuple | None = None
    range: tuple | None = None
    kind: str = "rule"  # rule | reading | choice | empirical (see assumptions.yaml)
    valid: tuple | None = None  # closed interval the value must lie in

    @property
    def drawn(self) -> bool:
        """Is this an empirical unknown the Monte Carlo draws around its value?"""
        return self.kind == "empirical" and self.range is not None


@dataclass(frozen=True)
class Principle:
    """A rule the model enforces by construction; cited, not switched."""

    key: str
    label: str
    clause: str
    quote: str
    how: str


@dataclass(frozen=True)
class Scenario:
    """A named set of overrides on the baseline (ASCII id, Chinese title)."""

    id: str
    title: str
    description: str
    overrides: Mapping[str, Any]
    source: str


@dataclass(frozen=True)
class ServiceItem:
    """One line of attachment 1 (准入清单)."""

    id: int
    code: str
    category: str
    item: str
    department: str | None  # None where the plan leaves the column blank (item 9)


def _plain(value: Any) -> Any:
    """YAML dates become ISO strings so every value is a plain, comparable Python object."""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise PolicyError(f"找不到文件 (file not found): {path}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"YAML 格式错误 (invalid YAML) in {path}: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"文件内容应为映射 (expected a mapping at top level): {path}")
    return data


_REQUIRED = ("label", "value", "unit", "effective", "clause")
KINDS = ("reading", "choice", "empirical")

#: (lower key, upper key): the first may not exceed the second (a floor above its ceiling admits no grid)
CONSTRAINTS = (
    ("grid.village.min_households", "grid.village.max_households"),
    ("grid.community.min_resident_households", "grid.community.max_planned_households"),
    ("assessment.criticism_unqualified_months", "assessment.termination_unqualified_months"),
)


def _parse_parameters(path: Path, assumption: bool) -> dict[str, Parameter]:
    raw = _read_yaml(path).get("parameters")
    if not isinstance(raw, dict):
        raise PolicyError(f"缺少 parameters 映射 (missing 'parameters' mapping): {path}")
    out: dict[str, Parameter] = {}
    for key, entry in raw.items():
        missing = [f for f in _REQUIRED if f not in (entry or {})]
        if missing:
            raise PolicyError(f"{path}: 参数 {key} 缺少字段 (missing fields) {missing}")
        if assumption and not entry.get("reason"):
            raise PolicyError(f"{path}: 假设 {key} 必须写明理由 (an assumption needs a 'reason')")
        if not assumption and not entry.get("quote"):
            raise PolicyError(f"{path}: 规则 {key} 必须引用原文 (a rule needs a 'quote')")
        kind = entry.get("kind", "rule" if not assumption else None)
        if assumption and kind not in KINDS:
            raise PolicyError(f"{path}: 假设 {key} 的 kind 须为 (kind must be one of) {list(KINDS)}, 得到 got {kind!r}")
        out[key] = Parameter(
            key=key,
            label=entry["label"],
            value=_plain(entry["value"]),
            unit=str(entry["unit"]),
            effective=_plain(entry["effective"]),
            clause=str(entry["clause"]),
            assumption=assumption,
            quote=entry.get("quote"),
            reason=entry.get("reason"),
            options=tuple(entry["options"]) if "options" in entry else None,
            range=tuple(entry["range"]) if "range" in entry else None,
            kind=kind,
            valid=tuple(entry["valid"]) if "valid" in entry else None,
        )
        param = out[key]
        _check_value(param, param.value, str(path))
        if param.range is not None:
            lo, hi = param.range
            if not (lo <= param.value <= hi):
                raise PolicyError(f"{path}: 参数 {key} 的取值 {param.value} 不在其区间 (value outside its range) {list(param.range)}")
            for end in param.range:
                _check_value(param, end, f"{path} range")
    return out


def _check_value(param: Parameter, value: Any, source: str) -> Any:
    """Return ``value`` converted to the parameter's type, or raise a PolicyError naming the key."""
    value = _plain(value)
    base = param.value
    where = f"{source}: 参数 {param.key}（{param.label}）"
    if isinstance(base, bool):
        if not isinstance(value, bool):
            raise PolicyError(f"{where} 应为布尔值 true/false (expected bool), 得到 got {value!r}")
    elif isinstance(base, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{where} 应为整数 (expected int), 得到 got {value!r}")
    elif isinstance(base, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PolicyError(f"{where} 应为数值 (expected number), 得到 got {value!r}")
        value = float(value)
    elif isinstance(base, str):
        if not isinstance(value, str):
            raise PolicyError(f"{where} 应为文本 (expected text), 得到 got {value!r}")
    elif isinstance(base, tuple):
        if not isinstance(value, tuple):
            raise PolicyError(f"{where} 应为列表 (expected list), 得到 got {value!r}")
    if param.options is not None and value not in param.options:
        raise PolicyError(f"{where} 只能取 (must be one of) {list(param.options)}, 得到 got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not np.isfinite(value):
            raise PolicyError(f"{where} 须为有限数值 (must be finite), 得到 got {value!r}")
        if value < 0:
            raise PolicyError(f"{where} 不能为负 (must not be negative), 得到 got {value!r}")
        if param.valid is not None and not (param.valid[0] <= value <= param.valid[1]):
            raise PolicyError(f"{where} 须在 (must lie in) [{param.valid[0]}, {param.valid[1]}] 之间, 得到 got {value!r}")
    return value


def _check_constraints(params: Mapping[str, Parameter], source: str) -> None:
    for lo_key, hi_key in CONSTRAINTS:
        lo, hi = params[lo_key], params[hi_key]
        if lo.value > hi.value:
            raise PolicyError(f"{source}: {lo_key}（{lo.label}）= {lo.value} 大于 {hi_key}（{hi.label}）= {hi.value}，"
                              f"下限不能高于上限 (a floor may not exceed its ceiling)")


# The read log: while one is open (:func:`log_reads`), every parameter any Policy gives out is noted, and
# :data:`SCENARIO_READ` when the scenario itself is read. ``gridsim report`` opens one around each page, so
# that a page which read nothing that differs between two scenarios (and shows the same plan) can be shown
# once for both (gridsim.report: pages shared by what they read). A list, not a set: logs may nest.
_READ_LOGS: list[set[str]] = []


def _note(*keys: str) -> None:
    for log in _READ_LOGS:
        log.update(keys)


@contextmanager
def log_reads() -> Iterator[set[str]]:
    """``with log_reads() as keys:`` — the parameter keys read from any :class:`Policy` inside the block
    (values, parameters, tables and comparisons with the baseline alike), plus :data:`SCENARIO_READ` if the
    scenario was read. Reading :attr:`Policy.label` (a page's header) is not a read."""
    log: set[str] = set()
    _READ_LOGS.append(log)
    try:
        yield log
    finally:  # by identity: two open logs may hold equal sets
        _READ_LOGS[:] = [other for other in _READ_LOGS if other is not log]


def open_page_log() -> None:
    """Open the read log of one page that a kernel runs cell by cell (``gridsim report``), dropping any log a
    failed page left open; :func:`close_page_log` ends it."""
    _READ_LOGS.clear()
    _READ_LOGS.append(set())


def close_page_log() -> list[str]:
    """The keys the page read since :func:`open_page_log`, sorted; the log is closed."""
    return sorted(_READ_LOGS.pop()) if _READ_LOGS else []


class Policy:
    """An immutable set of parameters: the baseline, or the baseline with a scenario's overrides.

    ``policy["grid.village.max_households"]`` gives a value; :meth:`param` gives its clause and unit.
    Every read goes through :meth:`param` (or notes the keys it reads), so :func:`log_reads` sees it.
    """

    def __init__(
        self,
        params: Mapping[str, Parameter],
        scenario: Scenario,
        service_items: tuple[ServiceItem, ...],
        baseline: Mapping[str, Parameter] | None = None,
        principles: Mapping[str, Principle] | None = None,
    ) -> None:
        self._params = MappingProxyType(dict(params))
        self.principles = MappingProxyType(dict(principles or {}))
        self._baseline = MappingProxyType(dict(baseline if baseline is not None else params))
        self._scenario = scenario
        self.service_items = service_items

    def __getitem__(self, key: str) -> Any:
        return self.param(key).value

    def __contains__(self, key: str) -> bool:
        return key in self._params

    def __repr__(self) -> str:
        return f"Policy(scenario={self._scenario.id!r}, {len(self._params)} parameters)"

    @property
    def scenario(self) -> Scenario:
        """The scenario this policy is (id, title, overrides): a read of the scenario itself."""
        _note(SCENARIO_READ)
        return self._scenario

    @property
    def label(self) -> str:
        """``id — title``, for a page's header: names the scenario a page was made for without making the page
        depend on it (not a read for :func:`log_reads`)."""
        return f"{self._scenario.id} — {self._scenario.title}"

    def param(self, key: str) -> Parameter:
        try:
            p = self._params[key]
        except KeyError:
            raise PolicyError(f"未知参数 (unknown parameter): {key}") from None
        _note(key)
        return p

    def keys(self) -> list[str]:
        return list(self._params)

    def principle(self, key: str) -> Principle:
        try:
            return self.principles[key]
        except KeyError:
            raise PolicyError(f"未知原则 (unknown principle): {key}") from None

    @property
    def id(self) -> str:
        return self.scenario.id  # a read of the scenario

    def with_overrides(self, overrides: Mapping[str, Any], *, scenario: Scenario | None = None) -> "Policy":
        """A new policy with ``overrides`` applied on top of this one; this one is unchanged."""
        source = scenario.source if scenario else "overrides"
        params = dict(self._params)  # values not read here: the new policy notes what is read from it
        for key, value in overrides.items():
            if key not in params:
                raise PolicyError(f"{source}: 未知参数 (unknown parameter) {key!r}")
            params[key] = replace(params[key], value=_check_value(params[key], value, source))
        _check_constraints(params, source)
        own = self._scenario  # named in the new one's id; its values are noted when read from the new policy
        scen = scenario or Scenario(
            id=f"{own.id}+custom",
            title=f"{own.title}（自定义）",
            description="",
            overrides=MappingProxyType({**own.overrides, **overrides}),
            source=source,
        )
        return Policy(params, scen, self.service_items, baseline=self._baseline, principles=self.principles)

    def overridden(self) -> dict[str, tuple[Any, Any]]:
        """Keys whose value differs from the baseline: ``{key: (baseline, current)}``."""
        _note(*self._params)
        return {
            k: (self._baseline[k].value, p.value)
            for k, p in self._params.items()
            if k in self._baseline and self._baseline[k].value != p.value
        }

    def table(self):
        """All parameters as a DataFrame with Chinese headers, for reports and the workbook."""
        import pandas as pd

        changed = self.overridden()  # notes every key
        rows = []
        for p in self._params.values():
            rows.append(
                {
                    "参数 key": p.key,
                    "名称 label": p.label,
                    "取值 value": _display(p.value),
                    "单位 unit": p.unit,
                    "条款 clause": p.clause,
                    "类别 kind": KIND_LABELS[p.kind],
                    "基线值 baseline": _display(self._baseline[p.key].value) if p.key in changed else "",
                    "区间 range": _display(p.range) if p.range else "",
                    "生效 effective": p.effective,
                    "原文或理由 quote / reason": p.quote or p.reason or "",
                }
            )
        return pd.DataFrame(rows)


KIND_LABELS = {"rule": "方案规则 rule", "reading": "原文解读 reading", "choice": "决策取值 choice",
               "empirical": "经验假设 empirical"}


def _display(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


@lru_cache(maxsize=1)
def load_baseline() -> Policy:
    """The frozen baseline: rules plus assumptions, no overrides."""
    rules = _parse_parameters(RULES_FILE, assumption=False)
    assumptions = _parse_parameters(ASSUMPTIONS_FILE, assumption=True)
    clash = set(rules) & set(assumptions)
    if clash:
        raise PolicyError(f"规则与假设重复定义 (defined twice): {sorted(clash)}")
    raw = _read_yaml(RULES_FILE)
    items = tuple(ServiceItem(**it) for it in raw.get("service_items", {}).get("items", []))
    principles = {k: Principle(key=k, **v) for k, v in (raw.get("principles") or {}).items()}
    scen = Scenario(BASELINE_ID, "基线", "方案原文 + 基线假设", MappingProxyType({}), str(RULES_FILE))
    params = {**rules, **assumptions}
    _check_constraints(params, str(POLICY_DIR))
    return Policy(params, scen, items, principles=principles)


def _scenario_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read a scenario file by id (``data/scenarios/<id>.yaml``) or by path."""
    path = _scenario_path(name_or_path)
    if not path.exists():
        known = ", ".join(s.id for s in list_scenarios())
        raise PolicyError(f"找不到情景 (scenario not found): {name_or_path}; 可用 (available): {known}")
    data = _read_yaml(path)
    unknown = set(data) - {"id", "title", "description", "overrides"}
    if unknown:
        raise PolicyError(f"{path}: 未知字段 (unknown fields) {sorted(unknown)}")
    sid = data.get("id") or path.stem
    if not isinstance(sid, str) or not sid.isascii():
        raise PolicyError(f"{path}: 情景 id 必须为 ASCII (scenario id must be ASCII): {sid!r}")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise PolicyError(f"{path}: overrides 应为映射 (must be a mapping)")
    return Scenario(
        id=sid,
        title=str(data.get("title", sid)),
        description=str(data.get("description", "")),
        overrides=MappingProxyType(dict(overrides)),
        source=str(path),
    )


def list_scenarios() -> list[Scenario]:
    """The shipped scenarios, baseline first."""
    paths = sorted(SCENARIO_DIR.glob("*.yaml"))
    scens = [load_scenario(p) for p in paths]
    return sorted(scens, key=lambda s: (s.id != BASELINE_ID, s.id))


def load_policy(scenario: str | Path | None = None) -> Policy:
    """The baseline with a scenario's overrides applied (``None`` or ``"baseline"`` gives the baseline)."""
    base = load_baseline()
    if scenario is None or scenario == BASELINE_ID:
        return base
    scen = load_scenario(scenario)
    return base.with_overrides(scen.overrides, scenario=scen)
