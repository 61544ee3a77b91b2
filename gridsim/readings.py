"""The readings of the plan's words that admit more than one meaning, each with the scenario that switches
it, and what each reading changes (grids, money, assessment).

Every reading is a named assumption in ``data/policy/assumptions.yaml`` (``kind: reading``) with the plan's
words quoted in its reason; the variant reading is a shipped scenario that overrides exactly that key.
:func:`readings_table` lists them for reports; :func:`reading_effects` puts each variant's results beside
the baseline's (from budget runs the caller made, keyed by scenario id).
"""

from __future__ import annotations

import pandas as pd

from .policy import load_baseline, load_policy

#: (assumption key, the scenario with the other reading)
READINGS = (
    ("grid.village.count_basis", "village_registered_households"),
    ("assessment.unqualified_boundary", "boundary_exclusive"),
    ("publicity.posts_scope", "publicity_subdistrict"),
    ("timing.new_rules_start", "start_after_deadline"),
    ("visits.worker_share", "visits_shared"),
    ("pay.base.basis", "pay_on_resident"),
    ("pay.base.rounding", "pay_per_full_100"),
    ("pay.performance.method", "performance_pool"),
    ("assessment.year_window", "rolling_year"),
)


def readings_table(policy=None) -> pd.DataFrame:
    """One row per reading: the words, the clause, the baseline reading and the variant's scenario and value."""
    policy = policy or load_baseline()
    rows = []
    for key, sid in READINGS:
        p = policy.param(key)
        variant = load_policy(sid)
        rows.append({"读法 reading": p.label, "参数 key": key, "条款 clause": p.clause,
                     "基线取值 baseline": _show(p.value), "变体情景 variant": sid,
                     "变体取值 variant value": _show(variant[key]), "理由 reason": " ".join(str(p.reason).split())})
    return pd.DataFrame(rows)


def _show(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def reading_effects(results: dict, baseline: str = "baseline", year: int | None = None) -> pd.DataFrame:
    """What each reading's variant changes against the baseline: grids, the year's funding P50 (total and
    by funder) and the assessment's rates. ``results`` maps scenario ids to
    :class:`~gridsim.budget.BudgetResult` s (those missing are skipped); money is for ``year`` (default the
    last simulated year)."""
    def figures(res) -> dict:
        s = res.summary
        years = s["year"].astype(int)
        s = s[years == (years.max() if year is None else int(year))].set_index("item")
        rates = res.assessment.rates()
        return {"grids": len(res.grids), "total": s.loc["total", "p50"],
                "district": s.loc["funder:district", "p50"], "subdistrict": s.loc["funder:subdistrict", "p50"],
                **rates}

    base = figures(results[baseline])
    rows = []
    for key, sid in READINGS:
        if sid not in results:
            continue
        f = figures(results[sid])
        rows.append({
            "读法 reading": load_baseline().param(key).label, "变体情景 variant": sid,
            "网格数 grids（基线→变体）": f"{base['grids']} → {f['grids']}",
            "全年经费P50 变化（元）": f["total"] - base["total"],
            "全年经费P50 变化 %": f["total"] / base["total"] - 1.0,
            "区级P50 变化（元）": f["district"] - base["district"],
            "街道P50 变化（元）": f["subdistrict"] - base["subdistrict"],
            "月不合格比例（基线→变体）": f"{base['unqualified']:.3%} → {f['unqualified']:.3%}",
            "年通报批评概率（基线→变体）": f"{base['criticism']:.3%} → {f['criticism']:.3%}",
            "年终止协议概率（基线→变体）": f"{base['termination']:.3%} → {f['termination']:.3%}",
        })
    return pd.DataFrame(rows)


def village_basis_comparison(homes, graph, policy, *, seed: int = 0, time_limit: float | None = None,
                             units=None, plan_path: str = "", plan_cache: str = "") -> pd.DataFrame:
    """Both readings of a village's 户 side by side (三(一)2, ``grid.village.count_basis``): per village, its
    houses and registered households, and under each reading the optimized grids and their lower bound.
    Each reading's plan comes from :func:`gridsim.scenario_plan.scenario_plan`: the scenario's stored plan
    (``plan_path``) for the policy's own reading, the plan cache (``plan_cache``) or the optimizer."""
    from .scenario_plan import scenario_plan

    other = {"houses": "registered_households", "registered_households": "houses"}[policy["grid.village.count_basis"]]
    words = {"houses": "按住房 houses", "registered_households": "按登记户 registered"}
    runs = {}
    for basis in (policy["grid.village.count_basis"], other):
        pol = policy if basis == policy["grid.village.count_basis"] else policy.with_overrides(
            {"grid.village.count_basis": basis})
        stored = plan_path if pol is policy else ""
        result, _ = scenario_plan(homes, graph, pol, seed=seed, time_limit=time_limit, plan_path=stored,
                                  cache_dir=plan_cache)
        runs[basis] = result.units.set_index("unit_id")
    villages = homes[homes["unit_type"] == "village"]
    table = villages.groupby("unit_id").agg(houses=("home_id", "size"), households=("households", "sum"))
    names = dict(zip(units["unit_id"], units["name"])) if units is not None and "name" in units else {}
    out = pd.DataFrame({"村 village": [names.get(u, u) for u in table.index],
                        "住房数 houses": table["houses"].to_numpy(),
                        "登记户数 registered households": table["households"].to_numpy()}, index=table.index)
    for basis in ("houses", "registered_households"):
        u = runs[basis].reindex(table.index)
        out[f"网格数（{words[basis]}）"] = u["grids"].to_numpy()
        out[f"下界（{words[basis]}）"] = u["lower_bound"].to_numpy()
        out[f"违规（{words[basis]}）"] = u["violations"].to_numpy()
    total = out.drop(columns="村 village").sum()
    out.loc["合计 total"] = ["合计 total", *total.to_list()]
    return out.reset_index(drop=True)
