"""Belt scales (continuous totalizing automatic weighing instruments, JJG 195).

* :func:`totalized_load_error` — δ = (I − M) / M × 100 %, the belt scale's totalized load
  I against the reference M (the material's mass on the control instrument, or the
  simulated load of a chain).
* :func:`belt_scale_mpe` — the MPE of the totalized load for an accuracy class and the
  kind of verification, from a regulation table's limits ``mpe_first_class_<c>`` (first
  and subsequent verification) and ``mpe_in_service_class_<c>`` (in-service inspection).
* :func:`chain_reference_load` — a chain of linear mass q_c over a belt travel L:
  q_c·L, with L = belt speed × time or revolutions × belt length.
* :func:`zero_load_limit` — the largest totalized load allowed on the empty belt:
  fraction × maximum flow rate × duration.
* :func:`control_instrument_adequate` — whether the control instrument's error (or
  expanded uncertainty) is within the belt scale's MPE / divisor.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from lims.calc._common import CalcError, require_quantity
from lims.calc.errors import relative_error
from lims.units import ureg

__all__ = [
    "VerificationKind",
    "belt_scale_mpe",
    "chain_reference_load",
    "control_instrument_adequate",
    "totalized_load_error",
    "zero_load_limit",
]


class VerificationKind(StrEnum):
    """Which MPE applies: first and subsequent verification share one, in-service another."""

    FIRST = "first"
    SUBSEQUENT = "subsequent"
    IN_SERVICE = "in_service"

    @property
    def zh(self) -> str:
        """Chinese name."""
        return {"first": "首次检定", "subsequent": "后续检定", "in_service": "使用中检查"}[
            self.value
        ]


def totalized_load_error(indicated: Any, reference: Any) -> Any:
    """δ = (indicated − reference) / reference, in percent (both masses)."""
    indicated = require_quantity(indicated, "totalized load")
    reference = require_quantity(reference, "reference load")
    if reference.dimensionality != ureg.kg.dimensionality:
        raise CalcError(f"reference load: expected a mass, got {reference:~P}")
    if reference.magnitude <= 0:
        raise CalcError(f"reference load: must be positive, got {reference:~P}")
    return relative_error(indicated, reference)


def belt_scale_mpe(
    limits: Mapping[str, Any], accuracy_class: str, kind: VerificationKind | str
) -> Any:
    """The MPE (percent) of the totalized load for ``accuracy_class`` (``"0.5"``, ``"1"``).

    ``limits`` maps limit names to Quantities (a regulation table's ``limits`` values).
    Raises :class:`CalcError` when the class has no MPE in the table.
    """
    kind = VerificationKind(kind)
    prefix = "mpe_in_service" if kind is VerificationKind.IN_SERVICE else "mpe_first"
    key = f"{prefix}_class_{accuracy_class}"
    if key not in limits:
        known = sorted(k.rsplit("_", 1)[1] for k in limits if k.startswith(prefix + "_class_"))
        raise CalcError(
            f"accuracy class {accuracy_class!r}: no {key} in the table (classes: {known})"
        )
    value = require_quantity(getattr(limits[key], "value", limits[key]), key)
    return value.to("percent")


def chain_reference_load(linear_mass: Any, travel: Any) -> Any:
    """The load a chain of ``linear_mass`` (kg/m) presents over a belt ``travel`` (m), kg."""
    q = require_quantity(linear_mass, "chain linear mass")
    length = require_quantity(travel, "belt travel")
    try:
        load = (q * length).to("kg")
    except Exception as exc:  # pint dimensionality errors
        raise CalcError(f"chain: {q:~P} over {length:~P} is not a mass") from exc
    if load.magnitude <= 0:
        raise CalcError("chain: linear mass and travel must be positive")
    return load


def zero_load_limit(max_rate: Any, duration: Any, fraction: Any) -> Any:
    """fraction × max flow rate × duration: the largest |totalized load| on the empty belt."""
    rate = require_quantity(max_rate, "maximum flow rate")
    time = require_quantity(duration, "test duration")
    share = require_quantity(fraction, "zero fraction")
    try:
        return (share.to("") * rate * time).to("kg")
    except Exception as exc:  # pint dimensionality errors
        raise CalcError(f"zero limit: {rate:~P} × {time:~P} is not a mass") from exc


def control_instrument_adequate(control_error: Any, belt_mpe: Any, divisor: Any) -> bool:
    """Whether |control_error| ≤ |belt MPE| / divisor (all relative, percent)."""
    err = require_quantity(control_error, "control instrument error").to("percent")
    mpe = require_quantity(belt_mpe, "belt scale MPE").to("percent")
    d = float(require_quantity(divisor, "divisor").to("").magnitude)
    if d <= 0:
        raise CalcError(f"divisor: must be positive, got {d}")
    return bool(abs(err.magnitude) <= abs(mpe.magnitude) / d)
