"""Run planning: one home for defining a run from the lab's records (see
:mod:`lims.services.planning.service`), the frozen :class:`RunPlan`, and the preflight checks."""

from lims.services.planning.context import PlanError, PlanningContext
from lims.services.planning.model import ParameterSource, RunPlan, plan_differences

__all__ = ["ParameterSource", "PlanError", "PlanningContext", "RunPlan", "plan_differences"]
