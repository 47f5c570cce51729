"""Calculations of the run engine: pure functions on pint Quantities.

* :mod:`~lims.calc.repeats` — mean, sample standard deviation, Type A u of the mean;
* :mod:`~lims.calc.errors` — absolute, relative (%) and fiducial (%FS) indication error;
* :mod:`~lims.calc.repeatability` — RSD (JJG 635, elemental analyzers) and the
  flowmeter form (JJG 1037);
* :mod:`~lims.calc.response` — T90 from a recorded step response;
* :mod:`~lims.calc.zero_span_drift` — zero and span drift;
* :mod:`~lims.calc.uncertainty` — budgets propagated with GTC (Welch–Satterthwaite, k);
* :mod:`~lims.calc.decision` — JJF 1094 and ILAC G8 decision rules;
* :mod:`~lims.calc.rounding` — rounding of U and results (GB/T 8170, JJF 1059.1);
* :mod:`~lims.calc.calorimetry` — Regnault–Pfaundler corrected rise, energy equivalent and
  calorific value of oxygen-bomb calorimeters (JJG 672);
* :mod:`~lims.calc.belt_scale` — totalized-load error and MPE per class and kind of
  verification, chain load, zero limit (JJG 195);
* :mod:`~lims.calc.cems` — relative accuracy against the reference method (HJ 75) and the
  CO2 emission rate with GTC-propagated uncertainty.

Bad input raises :class:`CalcError` (a ``ValueError``) naming what and where.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from lims.calc.errors import (
        absolute_error,
        as_fiducial,
        as_relative,
        fiducial_error,
        from_fiducial,
        relative_error,
        span_of,
    )
    from lims.calc.repeatability import (
        relative_standard_deviation,
        repeatability_of_relative_errors,
    )
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
    from lims.calc.zero_span_drift import Drift, drift, span_drift, zero_drift

# Submodules load on first use, so that importing the package stays cheap.
_LAZY: dict[str, tuple[str, str]] = {
    "BUDGET_HEADERS": ("lims.calc.uncertainty", "BUDGET_HEADERS"),
    "BudgetLine": ("lims.calc.uncertainty", "BudgetLine"),
    "CalcError": ("lims.calc._common", "CalcError"),
    "Coverage": ("lims.calc.uncertainty", "Coverage"),
    "DECISION_RULES": ("lims.calc.decision", "DECISION_RULES"),
    "Decision": ("lims.calc.decision", "Decision"),
    "DecisionRule": ("lims.calc.decision", "DecisionRule"),
    "Distribution": ("lims.calc.uncertainty", "Distribution"),
    "Drift": ("lims.calc.zero_span_drift", "Drift"),
    "ILAC_G8_GUARD_BAND": ("lims.calc.decision", "ILAC_G8_GUARD_BAND"),
    "ILAC_G8_NON_BINARY": ("lims.calc.decision", "ILAC_G8_NON_BINARY"),
    "ILAC_G8_SIMPLE": ("lims.calc.decision", "ILAC_G8_SIMPLE"),
    "JJF_1094": ("lims.calc.decision", "JJF_1094"),
    "RepeatStatistics": ("lims.calc.repeats", "RepeatStatistics"),
    "ResponseTime": ("lims.calc.response", "ResponseTime"),
    "RoundedResult": ("lims.calc.rounding", "RoundedResult"),
    "RoundingMode": ("lims.calc.rounding", "RoundingMode"),
    "UncertaintyBudget": ("lims.calc.uncertainty", "UncertaintyBudget"),
    "UncertaintyComponent": ("lims.calc.uncertainty", "UncertaintyComponent"),
    "Verdict": ("lims.calc.decision", "Verdict"),
    "absolute_error": ("lims.calc.errors", "absolute_error"),
    "as_fiducial": ("lims.calc.errors", "as_fiducial"),
    "as_relative": ("lims.calc.errors", "as_relative"),
    "certificate_component": ("lims.calc.uncertainty", "certificate_component"),
    "decide": ("lims.calc.decision", "decide"),
    "dof_from_reliability": ("lims.calc.uncertainty", "dof_from_reliability"),
    "drift": ("lims.calc.zero_span_drift", "drift"),
    "drift_component": ("lims.calc.uncertainty", "drift_component"),
    "fiducial_error": ("lims.calc.errors", "fiducial_error"),
    "format_decimal": ("lims.calc.rounding", "format_decimal"),
    "from_fiducial": ("lims.calc.errors", "from_fiducial"),
    "get_rule": ("lims.calc.decision", "get_rule"),
    "is_relative_unit": ("lims.calc._common", "is_relative_unit"),
    "mean": ("lims.calc.repeats", "mean"),
    "relative_error": ("lims.calc.errors", "relative_error"),
    "relative_standard_deviation": ("lims.calc.repeatability", "relative_standard_deviation"),
    "repeat_statistics": ("lims.calc.repeats", "repeat_statistics"),
    "repeatability_of_relative_errors": (
        "lims.calc.repeatability",
        "repeatability_of_relative_errors",
    ),
    "resolution_component": ("lims.calc.uncertainty", "resolution_component"),
    "response_time": ("lims.calc.response", "response_time"),
    "round_result": ("lims.calc.rounding", "round_result"),
    "round_significant": ("lims.calc.rounding", "round_significant"),
    "round_to_exponent": ("lims.calc.rounding", "round_to_exponent"),
    "round_uncertainty": ("lims.calc.rounding", "round_uncertainty"),
    "sample_std": ("lims.calc.repeats", "sample_std"),
    "span_drift": ("lims.calc.zero_span_drift", "span_drift"),
    "span_of": ("lims.calc.errors", "span_of"),
    "to_decimal": ("lims.calc.rounding", "to_decimal"),
    "type_a_component": ("lims.calc.uncertainty", "type_a_component"),
    "type_b_half_width": ("lims.calc.uncertainty", "type_b_half_width"),
    "uncertainty_budget": ("lims.calc.uncertainty", "uncertainty_budget"),
    "unit_text": ("lims.calc._common", "unit_text"),
    "zero_drift": ("lims.calc.zero_span_drift", "zero_drift"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


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
