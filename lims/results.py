"""The declared result schema: what a procedure states about one test point.

A procedure records :class:`ResultRecord` objects; the engine stores each with its schema
version in the run's results, and the certificate, the DCC, the desktop app and
``lims run --json`` read them back as the same typed records — nobody guesses what a
stored key means. Every quantity keeps its unit; limits say whether they are two-sided
(±), upper (≤) or lower (≥); the expanded uncertainty carries k, the coverage probability
and the effective degrees of freedom; the budget is stored beside it.

Results written by releases before this schema (plain dictionaries) are read through
:mod:`lims.results_legacy`, so old runs stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lims.calc.errors import from_fiducial
from lims.units import display_quantity, from_storage, to_storage, ureg
from lims.vocabulary import BiText, Verdict

__all__ = [
    "RESULT_SCHEMA",
    "Characteristic",
    "ErrorForm",
    "Extra",
    "Limit",
    "LimitKind",
    "Point",
    "ResultFlag",
    "ResultRecord",
    "StoredBudget",
    "StoredBudgetLine",
    "Uncertainty",
    "quantity_from_json",
    "quantity_to_json",
]

RESULT_SCHEMA = "carbon-lims/result/2"
"""Identifier and version of the stored form of a :class:`ResultRecord`."""


class Characteristic(StrEnum):
    """What a result states (the metrological characteristic of the test item)."""

    INDICATION_ERROR = "indication_error"
    REPEATABILITY = "repeatability"
    RESPONSE_TIME = "response_time"
    ZERO_DRIFT = "zero_drift"
    SPAN_DRIFT = "span_drift"
    ENERGY_ERROR = "energy_error"
    DISPLAY_ERROR = "display_error"
    PAYMENT_ERROR = "payment_error"
    CLOCK_ERROR = "clock_error"
    ENERGY_EQUIVALENT = "energy_equivalent"
    TOTALIZED_LOAD_ERROR = "totalized_load_error"
    ZERO_STABILITY = "zero_stability"
    RELATIVE_ACCURACY = "relative_accuracy"
    EMISSION_RATE = "emission_rate"

    @property
    def caption(self) -> BiText:
        """The test item's title on a certificate and in the app."""
        return _TITLES[self]

    @property
    def value_title(self) -> BiText:
        """Heading of the column holding the result's value."""
        return _VALUE_TITLES.get(self, BiText("误差", "Error"))


_TITLES = {
    Characteristic.INDICATION_ERROR: BiText("示值误差", "Error of indication"),
    Characteristic.REPEATABILITY: BiText("重复性", "Repeatability"),
    Characteristic.RESPONSE_TIME: BiText("响应时间", "Response time (T90)"),
    Characteristic.ZERO_DRIFT: BiText("零点漂移", "Zero drift"),
    Characteristic.SPAN_DRIFT: BiText("量程漂移", "Span drift"),
    Characteristic.ENERGY_ERROR: BiText("工作误差", "Operating (energy) error"),
    Characteristic.DISPLAY_ERROR: BiText("电能示值误差", "Energy display error"),
    Characteristic.PAYMENT_ERROR: BiText("付费金额误差", "Payment amount error"),
    Characteristic.CLOCK_ERROR: BiText("时钟示值误差", "Clock error"),
    Characteristic.ENERGY_EQUIVALENT: BiText("热容量", "Energy equivalent"),
    Characteristic.TOTALIZED_LOAD_ERROR: BiText("累计载荷误差", "Totalized load error"),
    Characteristic.ZERO_STABILITY: BiText("零点稳定性", "Zero stability"),
    Characteristic.RELATIVE_ACCURACY: BiText("相对准确度", "Relative accuracy"),
    Characteristic.EMISSION_RATE: BiText("排放速率", "Emission rate"),
}

_VALUE_TITLES = {
    Characteristic.REPEATABILITY: BiText("重复性", "Repeatability"),
    Characteristic.RESPONSE_TIME: BiText("响应时间 T90", "Response time T90"),
    Characteristic.ZERO_DRIFT: BiText("漂移", "Drift"),
    Characteristic.SPAN_DRIFT: BiText("漂移", "Drift"),
    Characteristic.ENERGY_EQUIVALENT: BiText("热容量", "Energy equivalent"),
    Characteristic.ZERO_STABILITY: BiText("零点变化", "Zero change"),
    Characteristic.RELATIVE_ACCURACY: BiText("相对准确度", "Relative accuracy"),
    Characteristic.EMISSION_RATE: BiText("排放速率", "Emission rate"),
}


class ErrorForm(StrEnum):
    """How the value of a result is expressed."""

    ABSOLUTE = "absolute"
    """x − x_s, in the unit of the quantity."""
    RELATIVE = "relative"
    """(x − x_s)/x_s, in %."""
    FIDUCIAL = "fiducial"
    """(x − x_s)/R, in %FS of the full scale R."""
    VALUE = "value"
    """Not an error: the characteristic itself (a repeatability, a T90, a drift)."""


class LimitKind(StrEnum):
    """Whether a limit bounds the value on both sides or on one."""

    SYMMETRIC = "symmetric"
    """|value| ≤ limit, written ±limit."""
    UPPER = "upper"
    """value ≤ limit, written ≤ limit."""
    LOWER = "lower"
    """value ≥ limit, written ≥ limit."""

    @property
    def symbol(self) -> str:
        """``±``, ``≤`` or ``≥``."""
        return {"symmetric": "±", "upper": "≤", "lower": "≥"}[self.value]


class ResultFlag(StrEnum):
    """Something a reader of the result must know."""

    UNVERIFIED_LIMIT = "unverified_limit"
    """The limit comes from a regulation-table value not yet checked against the official text."""
    OVERRIDE = "override"
    """A rule check was overridden by a quality manager for this run."""
    DEVIATION = "deviation"
    """The run deviated from the item's data or the method, recorded with a reason."""
    METHOD_CANNOT_DECIDE = "method_cannot_decide"
    """U > limit/3 by the method itself: the point may be undetermined whatever the item."""
    NOT_STABLE = "not_stable"
    """The indication did not meet the stability criterion within the settling time."""


def quantity_to_json(q: Any) -> dict[str, Any]:
    """A Quantity as ``{"value": magnitude, "unit": canonical unit}``."""
    magnitude, unit = to_storage(q)
    return {"value": magnitude, "unit": unit}


def quantity_from_json(data: Any, where: str = "") -> Any:
    """The Quantity stored by :func:`quantity_to_json` (ValueError naming ``where``)."""
    if not (isinstance(data, Mapping) and "value" in data and "unit" in data):
        raise ValueError(f"{where}: expected a stored quantity, got {data!r}")
    return from_storage(float(data["value"]), str(data["unit"]))


def _opt_q(data: Any, where: str) -> Any | None:
    return None if data is None else quantity_from_json(data, where)


def _number(x: float) -> float | str:
    return "inf" if math.isinf(x) else float(x)


def _from_number(x: Any) -> float:
    return math.inf if x in ("inf", None) else float(x)


@dataclass(frozen=True)
class Point:
    """A test point: a stable key, a bilingual label for people, and its nominal value."""

    key: str
    label: BiText
    nominal: Any | None = None

    def to_json(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "key": self.key,
            "label": [self.label.zh, self.label.en],
            "nominal": None if self.nominal is None else quantity_to_json(self.nominal),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Point:
        """Read the stored form."""
        zh, en = data["label"]
        return cls(str(data["key"]), BiText(zh, en), _opt_q(data.get("nominal"), "point"))


@dataclass(frozen=True)
class Limit:
    """A limit the value is judged against, where it comes from and whether it is checked."""

    value: Any
    kind: LimitKind = LimitKind.SYMMETRIC
    table_key: str = ""
    """The regulation-table key it comes from (``limits.mpe``), or empty."""
    unverified: bool = False

    def text(self, spec: str = ".4g") -> str:
        """``±2 %FS``, ``≤ 30 s``, ``≥ 95 %``."""
        if self.kind is LimitKind.SYMMETRIC:
            return f"±{display_quantity(abs(self.value), spec)}"
        return f"{self.kind.symbol} {display_quantity(self.value, spec)}"

    def to_json(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "value": quantity_to_json(self.value),
            "kind": self.kind.value,
            "table_key": self.table_key,
            "unverified": self.unverified,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Limit:
        """Read the stored form."""
        return cls(
            quantity_from_json(data["value"], "limit"),
            LimitKind(data["kind"]),
            str(data.get("table_key", "")),
            bool(data.get("unverified", False)),
        )


@dataclass(frozen=True)
class StoredBudgetLine:
    """One component of a stored uncertainty budget."""

    name: str
    kind: str
    distribution: str
    u: Any
    sensitivity: Any
    contribution: Any
    dof: float
    note: str = ""


@dataclass(frozen=True)
class StoredBudget:
    """An uncertainty budget as stored with a result: lines ranked, u_c, ν_eff, k, U."""

    measurand: str
    value: Any
    lines: tuple[StoredBudgetLine, ...]
    combined: Any
    dof_eff: float
    k: float
    p: float | None
    expanded: Any
    coverage: str

    @classmethod
    def from_calc(cls, budget: Any) -> StoredBudget:
        """From a computed :class:`lims.calc.UncertaintyBudget`."""
        return cls(
            measurand=budget.measurand,
            value=budget.value,
            lines=tuple(
                StoredBudgetLine(
                    ln.name,
                    ln.kind,
                    ln.distribution.value,
                    ln.u,
                    ln.sensitivity,
                    ln.contribution,
                    float(ln.dof),
                    ln.note,
                )
                for ln in budget.lines
            ),
            combined=budget.combined,
            dof_eff=float(budget.dof_eff),
            k=float(budget.k),
            p=budget.p,
            expanded=budget.expanded,
            coverage=budget.coverage_statement,
        )

    def to_json(self) -> dict[str, Any]:
        """Stored form (the ``budget`` column)."""

        def q(v: Any) -> Any:
            return quantity_to_json(v) if hasattr(v, "units") else float(v)

        return {
            "schema": RESULT_SCHEMA,
            "measurand": self.measurand,
            "value": q(self.value),
            "lines": [
                {
                    "name": ln.name,
                    "type": ln.kind,
                    "distribution": ln.distribution,
                    "u": q(ln.u),
                    "sensitivity": q(ln.sensitivity),
                    "contribution": q(ln.contribution),
                    "dof": _number(ln.dof),
                    "note": ln.note,
                }
                for ln in self.lines
            ],
            "combined": q(self.combined),
            "dof_eff": _number(self.dof_eff),
            "k": self.k,
            "p": self.p,
            "expanded": q(self.expanded),
            "coverage": self.coverage,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredBudget:
        """Read a stored budget, of this schema or of the earlier two forms."""

        def q(v: Any) -> Any:
            if isinstance(v, Mapping):
                return from_storage(float(v["value"]), str(v["unit"]))
            return float(v)

        lines = tuple(
            StoredBudgetLine(
                name=str(ln.get("name", ln.get("component", ""))),
                kind=str(ln.get("type", "B")),
                distribution=str(ln.get("distribution", "")),
                u=q(ln["u"]),
                sensitivity=q(ln.get("sensitivity", 1.0)),
                contribution=q(ln["contribution"]),
                dof=_from_number(ln.get("dof")),
                note=str(ln.get("note", "")),
            )
            for ln in data.get("lines", [])
        )
        expanded = q(data["expanded"])
        return cls(
            measurand=str(data.get("measurand", "")),
            value=q(data["value"]) if "value" in data else expanded * 0,
            lines=lines,
            combined=q(data["combined"]),
            dof_eff=_from_number(data.get("dof_eff")),
            k=float(data["k"]),
            p=None if data.get("p") is None else float(data["p"]),
            expanded=expanded,
            coverage=str(data.get("coverage", "")),
        )


@dataclass(frozen=True)
class Uncertainty:
    """The expanded uncertainty of a result's value: U, k, coverage probability, ν_eff."""

    expanded: Any
    k: float
    coverage_probability: float = 0.95
    dof_eff: float = math.inf

    @classmethod
    def of(cls, budget: Any) -> Uncertainty:
        """From a computed budget (its U and k; p = 95 % unless the budget states another)."""
        return cls(
            budget.expanded,
            float(budget.k),
            float(budget.p) if budget.p is not None else 0.95,
            float(budget.dof_eff),
        )

    def to_json(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "U": quantity_to_json(self.expanded),
            "k": self.k,
            "p": self.coverage_probability,
            "dof_eff": _number(self.dof_eff),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Uncertainty:
        """Read the stored form."""
        return cls(
            quantity_from_json(data["U"], "uncertainty"),
            float(data["k"]),
            float(data.get("p", 0.95)),
            _from_number(data.get("dof_eff")),
        )


@dataclass(frozen=True)
class Extra:
    """A further value a result reports (a count, an absolute error beside a fiducial one,
    the tariff of a payment test), with its bilingual name."""

    key: str
    label: BiText
    value: Any
    """A Quantity, a number or a text."""

    def to_json(self) -> dict[str, Any]:
        """Stored form."""
        v = self.value
        stored: Any = quantity_to_json(v) if hasattr(v, "units") else v
        return {"key": self.key, "label": [self.label.zh, self.label.en], "value": stored}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Extra:
        """Read the stored form."""
        v = data["value"]
        value = quantity_from_json(v, data["key"]) if isinstance(v, Mapping) else v
        zh, en = data["label"]
        return cls(str(data["key"]), BiText(zh, en), value)


@dataclass(frozen=True)
class ResultRecord:
    """One result of a run (see the module docstring)."""

    point: Point
    characteristic: Characteristic
    value: Any
    """The error (in its :attr:`form`) or the characteristic's value."""
    form: ErrorForm
    verdict: Verdict = Verdict.NOT_STATED
    reference: Any | None = None
    indication: Any | None = None
    full_scale: Any | None = None
    """The fiducial value R of a %FS result."""
    limit: Limit | None = None
    uncertainty: Uncertainty | None = None
    decision_rule: str | None = None
    budget: StoredBudget | None = None
    flags: tuple[ResultFlag, ...] = ()
    materials: tuple[str, ...] = ()
    """Reference materials (tags) the result rests on."""
    extras: tuple[Extra, ...] = ()
    first_seq: int | None = None
    last_seq: int | None = None
    schema: str = field(default=RESULT_SCHEMA)

    def __post_init__(self) -> None:
        if not hasattr(self.value, "units"):
            raise TypeError(f"result {self.point.key}: the value must be a Quantity")
        for name in ("reference", "indication", "full_scale"):
            v = getattr(self, name)
            if v is not None and not hasattr(v, "units"):
                raise TypeError(f"result {self.point.key}: {name} must be a Quantity")
        if (self.reference is None) != (self.indication is None):
            raise ValueError(
                f"result {self.point.key}: give both the reference value and the indication, "
                "or neither"
            )
        if self.form is ErrorForm.FIDUCIAL and self.full_scale is None:
            raise ValueError(f"result {self.point.key}: a fiducial error needs the full scale")
        if self.limit is not None and not _same_kind(self.limit.value, self.value):
            raise ValueError(
                f"result {self.point.key}: limit {self.limit.value:~P} is not of the kind of "
                f"the value {self.value:~P}"
            )
        if self.uncertainty is not None and not _same_kind(self.uncertainty.expanded, self.value):
            raise ValueError(
                f"result {self.point.key}: U {self.uncertainty.expanded:~P} is not of the kind "
                f"of the value {self.value:~P}"
            )
        if self.verdict is not Verdict.NOT_STATED and self.limit is None:
            raise ValueError(f"result {self.point.key}: a verdict needs the limit it rests on")
        object.__setattr__(self, "flags", tuple(self.flags))
        object.__setattr__(self, "materials", tuple(self.materials))
        object.__setattr__(self, "extras", tuple(self.extras))

    def extra(self, key: str) -> Any | None:
        """The value of extra ``key``, or None."""
        return next((e.value for e in self.extras if e.key == key), None)

    @property
    def absolute_uncertainty(self) -> Any | None:
        """U in the unit of the quantity measured (a %FS U scaled by the full scale); None
        for a relative or a characteristic's value, or without U."""
        if self.uncertainty is None:
            return None
        u = self.uncertainty.expanded
        if self.form is ErrorForm.FIDUCIAL and self.full_scale is not None:
            return from_fiducial(u, self.full_scale)
        if self.form is ErrorForm.ABSOLUTE:
            return u
        return None

    def with_readings(self, seqs: Sequence[int]) -> ResultRecord:
        """This record referencing the readings ``seqs`` it was computed from."""
        from dataclasses import replace

        if not seqs:
            return self
        return replace(self, first_seq=min(seqs), last_seq=max(seqs))

    def to_json(self) -> dict[str, Any]:
        """The stored form (the ``values`` column), tagged with :data:`RESULT_SCHEMA`."""

        def q(v: Any) -> Any:
            return None if v is None else quantity_to_json(v)

        return {
            "schema": RESULT_SCHEMA,
            "point": self.point.to_json(),
            "characteristic": self.characteristic.value,
            "value": q(self.value),
            "form": self.form.value,
            "reference": q(self.reference),
            "indication": q(self.indication),
            "full_scale": q(self.full_scale),
            "limit": None if self.limit is None else self.limit.to_json(),
            "uncertainty": None if self.uncertainty is None else self.uncertainty.to_json(),
            "flags": [f.value for f in self.flags],
            "materials": list(self.materials),
            "extras": [e.to_json() for e in self.extras],
        }

    @classmethod
    def from_stored(
        cls,
        values: Mapping[str, Any],
        *,
        verdict: str,
        decision_rule: str | None,
        budget: Mapping[str, Any] | None,
        first_seq: int | None,
        last_seq: int | None,
    ) -> ResultRecord:
        """Rebuild a record from a stored result row of this schema."""
        if values.get("schema") != RESULT_SCHEMA:
            raise ValueError(f"not a {RESULT_SCHEMA} result: {values.get('schema')!r}")
        limit = values.get("limit")
        unc = values.get("uncertainty")
        return cls(
            point=Point.from_json(values["point"]),
            characteristic=Characteristic(values["characteristic"]),
            value=quantity_from_json(values["value"], "value"),
            form=ErrorForm(values["form"]),
            verdict=Verdict.from_record(verdict),
            reference=_opt_q(values.get("reference"), "reference"),
            indication=_opt_q(values.get("indication"), "indication"),
            full_scale=_opt_q(values.get("full_scale"), "full_scale"),
            limit=None if limit is None else Limit.from_json(limit),
            uncertainty=None if unc is None else Uncertainty.from_json(unc),
            decision_rule=decision_rule,
            budget=StoredBudget.from_json(budget) if budget else None,
            flags=tuple(ResultFlag(f) for f in values.get("flags", [])),
            materials=tuple(values.get("materials", [])),
            extras=tuple(Extra.from_json(e) for e in values.get("extras", [])),
            first_seq=first_seq,
            last_seq=last_seq,
        )


def _same_kind(a: Any, b: Any) -> bool:
    if a.dimensionality != b.dimensionality:
        return False
    # pint treats %, µmol/mol and 1 alike; a relative limit never judges an absolute value
    relative = (ureg.percent, ureg.permille, ureg.dimensionless)
    return (a.units in relative) == (b.units in relative) or not a.dimensionless
