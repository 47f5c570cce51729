"""Calculations of the run engine: pure functions on pint Quantities.

* :mod:`~lims.calc.repeats` — mean, sample standard deviation, Type A u of the mean;
* :mod:`~lims.calc.errors` — absolute, relative (%) and fiducial (%FS) indication error;
* :mod:`~lims.calc.repeatability` — RSD (JJG 635, elemental analyzers) and the
  flowmeter form (JJG 1037);
* :mod:`~lims.calc.response` — T90 from a recorded step response;
* :mod:`~lims.calc.drift` — zero and span drift;
* :mod:`~lims.calc.uncertainty` — budgets propagated with GTC (Welch–Satterthwaite, k);
* :mod:`~lims.calc.decision` — JJF 1094 and ILAC G8 decision rules;
* :mod:`~lims.calc.rounding` — rounding of U and results (GB/T 8170, JJF 1059.1).

Bad input raises :class:`CalcError` (a ``ValueError``) naming what and where.
"""

from lims.calc._common import CalcError, is_relative_unit, unit_text
from lims.calc.decision import (
    DECISION_RULES,
    ILAC_G8_GUARD_BAND,
    ILAC_G8_NON_BINARY,
    ILAC_G8_SIMPLE,
    JJF_1094,
    Decision,
    DecisionRule,
    Verdict,
    decide,
    get_rule,
)
from lims.calc.drift import Drift, drift, span_drift, zero_drift
from lims.calc.errors import (
    absolute_error,
    as_fiducial,
    as_relative,
    fiducial_error,
    from_fiducial,
    relative_error,
    span_of,
)
from lims.calc.repeatability import relative_standard_deviation, repeatability_of_relative_errors
from lims.calc.repeats import RepeatStatistics, mean, repeat_statistics, sample_std
from lims.calc.response import ResponseTime, response_time
from lims.calc.rounding import (
    RoundedResult,
    RoundingMode,
    format_decimal,
    round_result,
    round_significant,
    round_to_exponent,
    round_uncertainty,
    to_decimal,
)
from lims.calc.uncertainty import (
    BUDGET_HEADERS,
    BudgetLine,
    Coverage,
    Distribution,
    UncertaintyBudget,
    UncertaintyComponent,
    certificate_component,
    dof_from_reliability,
    drift_component,
    resolution_component,
    type_a_component,
    type_b_half_width,
    uncertainty_budget,
)

__all__ = [
    "BUDGET_HEADERS",
    "DECISION_RULES",
    "ILAC_G8_GUARD_BAND",
    "ILAC_G8_NON_BINARY",
    "ILAC_G8_SIMPLE",
    "JJF_1094",
    "BudgetLine",
    "CalcError",
    "Coverage",
    "Decision",
    "DecisionRule",
    "Distribution",
    "Drift",
    "RepeatStatistics",
    "ResponseTime",
    "RoundedResult",
    "RoundingMode",
    "UncertaintyBudget",
    "UncertaintyComponent",
    "Verdict",
    "absolute_error",
    "as_fiducial",
    "as_relative",
    "certificate_component",
    "decide",
    "dof_from_reliability",
    "drift",
    "drift_component",
    "fiducial_error",
    "format_decimal",
    "from_fiducial",
    "get_rule",
    "is_relative_unit",
    "mean",
    "relative_error",
    "relative_standard_deviation",
    "repeat_statistics",
    "repeatability_of_relative_errors",
    "resolution_component",
    "response_time",
    "round_result",
    "round_significant",
    "round_to_exponent",
    "round_uncertainty",
    "sample_std",
    "span_drift",
    "span_of",
    "to_decimal",
    "type_a_component",
    "type_b_half_width",
    "uncertainty_budget",
    "unit_text",
    "zero_drift",
]
