"""Reading results stored before the declared result schema (``lims.results``).

Releases before it stored each result as a plain dictionary whose keys said what a value
was (``error_fs``, ``mpe``, ``expanded_uncertainty_fs``, ``t90`` …). This module is the one
place that still interprets those keys, so old runs stay readable and certifiable; every
result written since carries :data:`lims.results.RESULT_SCHEMA` and is read as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lims.models.runs import Result
from lims.results import (
    RESULT_SCHEMA,
    Characteristic,
    ErrorForm,
    Limit,
    LimitKind,
    Point,
    ResultRecord,
    StoredBudget,
    Uncertainty,
)
from lims.units import from_storage, ureg
from lims.vocabulary import BiText, Verdict

__all__ = ["LEGACY_TABLE_NOTE", "record_of"]

#: The item under which earlier releases noted the regulation table's status as a result.
LEGACY_TABLE_NOTE = "regulation_table"

_UPPER_ITEMS = {"repeatability", "response_time"}


def _q(values: Mapping[str, Any], name: str) -> Any | None:
    stored = values.get(name)
    if isinstance(stored, Mapping) and "value" in stored and "unit" in stored:
        return from_storage(float(stored["value"]), str(stored["unit"]))
    return None


def _first(values: Mapping[str, Any], names: Sequence[str]) -> Any | None:
    for name in names:
        q = _q(values, name)
        if q is not None:
            return q
    return None


def _is_fs(q: Any | None) -> bool:
    return q is not None and q.dimensionality == ureg.Quantity(1, "percent_FS").dimensionality


def record_of(row: Result) -> ResultRecord:
    """The typed record of a stored result row, of the current schema or an earlier one."""
    values = dict(row.values or {})
    if values.get("schema") == RESULT_SCHEMA:
        return ResultRecord.from_stored(
            values,
            verdict=row.verdict.value,
            decision_rule=row.decision_rule,
            budget=row.budget or None,
            first_seq=row.first_seq,
            last_seq=row.last_seq,
        )
    return _legacy(row, values)


def _full_scale(v: dict[str, Any]) -> Any | None:
    """The span a fiducial record refers to, from a value stored both absolute and in %FS."""
    for absolute, fiducial in (
        ("expanded_uncertainty", "expanded_uncertainty_fs"),
        ("error", "error_fs"),
        ("drift", "drift_fs"),
    ):
        a, f = _q(v, absolute), _q(v, fiducial)
        if a is None or f is None or _is_fs(a) or f.magnitude == 0:
            continue
        span = abs(a / (f.magnitude / 100.0))
        if span.magnitude > 0:
            return span
    return None


def _legacy(row: Result, v: dict[str, Any]) -> ResultRecord:
    limit_q = _first(v, ("mpe", "limit", "repeatability_limit", "tolerance"))
    in_fs = _is_fs(limit_q)
    item = row.item
    if item == "repeatability":
        names: tuple[str, ...] = ("repeatability",)
    elif item == "response_time":
        names = ("t90",)
    elif item.endswith("drift"):
        names = ("drift_fs", "drift") if in_fs else ("drift",)
    else:
        names = ("error_fs", "error") if in_fs else ("error",)
    value = _first(v, names)
    if value is None:
        value = _first(v, ("error", "repeatability", "t90", "drift"))
    if value is None:
        raise ValueError(f"result {row.id} ({row.test_point} {item}) holds no value")
    u = _first(
        v,
        ("expanded_uncertainty_fs", "expanded_uncertainty", "U")
        if _is_fs(value)
        else ("expanded_uncertainty", "U"),
    )
    k = v.get("k")
    uncertainty = None
    if u is not None and u.dimensionality == value.dimensionality and isinstance(k, int | float):
        uncertainty = Uncertainty(u, float(k))
    limit = None
    if limit_q is not None and limit_q.dimensionality == value.dimensionality:
        kind = LimitKind.UPPER if item in _UPPER_ITEMS else LimitKind.SYMMETRIC
        limit = Limit(limit_q, kind)
    reference, indication = _q(v, "reference"), _q(v, "indication")
    if (
        reference is None
        or indication is None
        or (reference.dimensionality != indication.dimensionality)
    ):
        reference = indication = None
    nominal = _q(v, "flow") or _q(v, "current") or _q(v, "reference")
    if nominal is None and item == "response_time":
        nominal = _q(v, "final")
    if _is_fs(value):
        form = ErrorForm.FIDUCIAL
    elif item in _UPPER_ITEMS or item.endswith("drift"):
        form = ErrorForm.VALUE
    elif value.units in (ureg.percent,) and v.get("error_form") == "relative":
        form = ErrorForm.RELATIVE
    else:
        form = ErrorForm.ABSOLUTE
    full_scale = _full_scale(v) if form is ErrorForm.FIDUCIAL else None
    verdict = Verdict.from_record(row.verdict.value)
    if verdict is not Verdict.NOT_STATED and limit is None:
        verdict = Verdict.NOT_STATED
    try:
        characteristic = Characteristic(item if item != "error" else "indication_error")
    except ValueError:
        characteristic = Characteristic.INDICATION_ERROR
    return ResultRecord(
        point=Point(row.test_point, BiText(row.test_point, row.test_point), nominal),
        characteristic=characteristic,
        value=value,
        form=form,
        verdict=verdict,
        reference=reference,
        indication=indication,
        full_scale=full_scale,
        limit=limit,
        uncertainty=uncertainty,
        decision_rule=row.decision_rule,
        budget=StoredBudget.from_json(row.budget) if row.budget else None,
        first_seq=row.first_seq,
        last_seq=row.last_seq,
    )
