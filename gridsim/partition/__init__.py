"""The grid optimizer (三(一) 网格优化调整): the fewest compact, contiguous grids within the limits.

Public API::

    from gridsim.partition import partition, PartitionResult, Effort
    result = partition(homes, graph=None, policy=None, mode="fewest", grids=None,
                       current="current_grid_id", seed=0, time_limit=None, barriers=None, workers=None)
    result.plan          # gridsim.plan.Plan
    result.units         # per unit: lower/upper bound, grids, gap, violations, cut edges, ...
    result.diagnoses     # list[Diagnosis(unit_id, code, message)] for units that cannot be fully legal
    result.report()      # Chinese report (markdown)
    result.write("plan.csv")  # plan.csv, plan_summary.csv, plan_report.md

    from gridsim.partition import lower_bounds
    lower_bounds(homes, graph=None, policy=None)   # per unit: lower/upper bound and diagnoses

Modes: ``fewest`` (default: fewest grids, then fewest cut edges, then 村民组/小区 kept whole, then
fewest households moved from today's map), ``repair`` (start from today's map, move as few households
as possible), ``fixed`` (a given number of grids per unit). How: :mod:`.bounds` (lower/upper bounds,
diagnoses), :mod:`.construct` (spanning-tree peeling), :mod:`.search` (local search), :mod:`.solve`
(per unit), :mod:`.stranded` (proof that a low-occupancy group cannot be covered), :mod:`.exact` (exact search
for small pieces), :mod:`.run` (whole register), :mod:`.report` (outputs), :mod:`.instances` (generated
test units).
"""

from .bounds import Diagnosis
from .knapsack import bin_packing_bound
from .run import MODES, PartitionResult, lower_bounds, partition
from .solve import Effort


__all__ = ["partition", "PartitionResult", "Effort", "Diagnosis", "MODES", "lower_bounds", "bin_packing_bound"]
