"""The certificate document: one plain, complete, immutable data structure.

A :class:`CertificateDocument` holds everything a certificate shows (ISO/IEC
17025 7.8.2.1, 7.8.4, 7.8.6, 7.8.8 and the Chinese verification-certificate
items). The PDF, the DCC and the signatures are all produced from it.

Its *content record* (:meth:`CertificateDocument.content_record`) is a
canonical JSON form: keys sorted, no insignificant whitespace, UTF-8,
quantities as ``{"value": "<repr of the float>", "unit": "<canonical unit>"}``,
dates in ISO 8601, times in UTC. Its SHA-256 (:meth:`CertificateDocument.content_hash`)
is the same in every process and on every machine; it is what the QR code
carries and what the signatures bind to (the record is embedded in the PDF).

Validation happens at construction: an inconsistent document raises
:class:`~lims.certificates.errors.CertificateDataError` naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lims.certificates.errors import CertificateDataError
from lims.lab_time import TimeZoneError, zone
from lims.results import LimitKind
from lims.units import canonical_unit, ureg
from lims.vocabulary import BiText, CertificateType, Verdict
from lims.vocabulary import SignatureMeaning as Meaning

__all__ = [
    "CONTENT_SCHEMA",
    "AdjustmentStatus",
    "BiText",
    "BudgetAnnex",
    "BudgetAnnexLine",
    "CertificateDates",
    "CertificateDocument",
    "CertificateType",
    "Conclusion",
    "Customer",
    "DecisionRule",
    "Deviation",
    "DeviationKind",
    "Environment",
    "Item",
    "Laboratory",
    "LimitKind",
    "Location",
    "Meaning",
    "Method",
    "PerformanceLocation",
    "Replaces",
    "ResultRow",
    "ResultSection",
    "ScopeStatement",
    "Signatory",
    "Standard",
    "StandardKind",
    "Verdict",
]

CONTENT_SCHEMA = "carbon-lims/certificate-content/1"
"""Identifier and version of the content-record layout (part of the hashed record)."""

_OMIT_DEFAULT = {"omit_default": True}
"""Field metadata: left out of the content record while it holds its default, so records
written before the field existed keep their layout and their SHA-256."""


class PerformanceLocation(enum.StrEnum):
    """Where the work was done (DCC ``performanceLocation`` vocabulary)."""

    LABORATORY = "laboratory"
    CUSTOMER = "customer"
    LABORATORY_BRANCH = "laboratoryBranch"
    CUSTOMER_BRANCH = "customerBranch"
    OTHER = "other"


class StandardKind(enum.StrEnum):
    """A measurement standard or a (certified) reference material."""

    STANDARD = "standard"
    REFERENCE_MATERIAL = "reference_material"


class DeviationKind(enum.StrEnum):
    """A deviation from the method, or an audited override of a check."""

    DEVIATION = "deviation"
    OVERRIDE = "override"


class AdjustmentStatus(enum.StrEnum):
    """Whether a result section shows the item before or after adjustment (17025 7.8.4)."""

    BEFORE_ADJUSTMENT = "beforeAdjustment"
    AFTER_ADJUSTMENT = "afterAdjustment"


@dataclass(frozen=True)
class Replaces:
    """The certificate an amendment replaces, and why (ISO/IEC 17025 7.8.8)."""

    number: str
    reason: str
    content_hash: str
    """SHA-256 of the replaced certificate's content record (the DCC links it)."""

    def __post_init__(self) -> None:
        _require_text(self.number, "replaces.number")
        _require_text(self.reason, "replaces.reason")
        h = self.content_hash
        if not (isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h)):
            raise CertificateDataError(
                f"replaces.content_hash: expected a lowercase hex SHA-256, got {h!r}"
            )


@dataclass(frozen=True)
class Laboratory:
    """The issuing laboratory."""

    name: BiText
    address: BiText
    accreditation_number: str
    email: str
    phone: str
    city: str
    country_code: str = "CN"

    def __post_init__(self) -> None:
        _require_text(self.accreditation_number, "laboratory.accreditation_number")
        _require_text(self.city, "laboratory.city")
        if len(self.country_code) != 2 or not self.country_code.isascii():
            raise CertificateDataError(
                f"laboratory.country_code: expected an ISO 3166-1 alpha-2 code such as 'CN', "
                f"got {self.country_code!r}"
            )
        object.__setattr__(self, "country_code", self.country_code.upper())


@dataclass(frozen=True)
class Customer:
    """The customer (name, address and contact)."""

    name: str
    address: str
    contact_person: str
    phone: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        _require_text(self.name, "customer.name")
        _require_text(self.address, "customer.address")
        _require_text(self.contact_person, "customer.contact_person")


@dataclass(frozen=True)
class Item:
    """The instrument verified or calibrated, and its condition on receipt."""

    description: BiText
    manufacturer: str
    model: str
    serial_number: str
    asset_tag: str
    measuring_range: str
    accuracy_class: str
    condition_on_receipt: BiText

    def __post_init__(self) -> None:
        for name in ("manufacturer", "model", "serial_number", "measuring_range"):
            _require_text(getattr(self, name), f"item.{name}")


@dataclass(frozen=True)
class CertificateDates:
    """Receipt, performance and issue dates; ``valid_until`` only for a passed verification.

    ``issue`` is ``None`` when the date of issue is that of the approval signature: the
    content record is fixed by the first signature, before anyone knows when the approver
    will sign, so the date is shown in the approval signature's appearance and recorded
    with it (:func:`lims.certificates.signing.issue_date_of`).
    """

    receipt: date
    performance_start: date
    performance_end: date
    issue: date | None = None
    valid_until: date | None = None
    time_zone: str = field(default="UTC", metadata=_OMIT_DEFAULT)
    """IANA zone of these dates and of the date of issue: the lab's (:mod:`lims.lab_time`);
    content records written before the zone was recorded used UTC dates."""

    def __post_init__(self) -> None:
        try:
            zone(self.time_zone)
        except TimeZoneError as exc:
            raise CertificateDataError(f"dates.time_zone: {exc}") from exc
        for f in dataclasses.fields(self):
            if f.name == "time_zone":
                continue
            value = getattr(self, f.name)
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise CertificateDataError(f"dates.{f.name}: expected a date, got {value!r}")
        order = [
            ("receipt", self.receipt),
            ("performance_start", self.performance_start),
            ("performance_end", self.performance_end),
            ("issue", self.issue),
        ]
        for (a_name, a), (b_name, b) in itertools.pairwise(order):
            if a is not None and b is not None and a > b:
                raise CertificateDataError(f"dates.{b_name} ({b}) is before dates.{a_name} ({a})")
        if self.valid_until is not None and self.valid_until <= self.performance_end:
            raise CertificateDataError(
                f"dates.valid_until ({self.valid_until}) must be after the performance date "
                f"({self.performance_end})"
            )


@dataclass(frozen=True)
class Location:
    """Where the work was done."""

    place: BiText
    kind: PerformanceLocation = PerformanceLocation.LABORATORY


@dataclass(frozen=True)
class Method:
    """The regulation or specification followed, and the regulation-table version used."""

    regulation_number: str
    title: BiText
    table_version: str
    table_has_unverified_values: bool = False
    """Some value of the regulation table is marked unverified: the certificate says so."""
    procedure: str = ""
    """Procedure identifier and version (e.g. ``"jjg635 1.2.0"``), if any."""

    def __post_init__(self) -> None:
        _require_text(self.regulation_number, "method.regulation_number")
        _require_text(self.table_version, "method.table_version")


@dataclass(frozen=True)
class DecisionRule:
    """The decision rule applied to conformity statements (ISO/IEC 17025 7.8.6)."""

    rule_id: str
    text: BiText

    def __post_init__(self) -> None:
        _require_text(self.rule_id, "decision_rule.rule_id")


@dataclass(frozen=True)
class Standard:
    """A measurement standard or reference material used, with its certificate and validity."""

    name: BiText
    identifier: str
    measuring_range: str
    uncertainty_or_class: str
    certificate_number: str
    valid_until: date
    traceability: str
    """Who calibrated/certified it (the traceability link), e.g. ``"中国计量科学研究院 NIM"``."""
    kind: StandardKind = StandardKind.STANDARD

    def __post_init__(self) -> None:
        for name in (
            "identifier",
            "measuring_range",
            "uncertainty_or_class",
            "certificate_number",
            "traceability",
        ):
            _require_text(getattr(self, name), f"standard {self.identifier!r}: {name}")
        if not isinstance(self.valid_until, date):
            raise CertificateDataError(
                f"standard {self.identifier!r}: valid_until must be a date, "
                f"got {self.valid_until!r}"
            )


@dataclass(frozen=True)
class Environment:
    """Environmental conditions during the work (pint Quantities)."""

    temperature: Any
    relative_humidity: Any
    pressure: Any | None = None

    def __post_init__(self) -> None:
        _require_dimension(self.temperature, "degC", "environment.temperature")
        _require_dimension(self.relative_humidity, "percent", "environment.relative_humidity")
        if self.pressure is not None:
            _require_dimension(self.pressure, "kPa", "environment.pressure")


@dataclass(frozen=True)
class Deviation:
    """A deviation from the method or an override of a check, with reason and who."""

    kind: DeviationKind
    description: BiText
    reason: str
    by: str
    at: datetime | None = None

    def __post_init__(self) -> None:
        _require_text(self.reason, "deviation.reason")
        _require_text(self.by, "deviation.by")
        if self.at is not None and (self.at.tzinfo is None or self.at.utcoffset() is None):
            raise CertificateDataError("deviation.at: a time must carry its time zone (UTC)")


@dataclass(frozen=True)
class ResultRow:
    """One test point: reference value, indication, error, MPE, U (k) and verdict."""

    point: Any | None
    """The test point (nominal value); None where the label alone names it."""
    reference: Any | None
    """Reference value; None for a characteristic without one (repeatability, T90, drift)."""
    indication: Any | None
    """Indication of the instrument; None where there is no single indication."""
    error: Any
    """The result of the point: the error, or the characteristic the section names."""
    mpe: Any | None
    expanded_uncertainty: Any | None
    coverage_factor: float | None
    verdict: Verdict
    label: str = ""
    coverage_probability: float = 0.95
    """Coverage probability of U (0.95 for k = 2 unless the budget says otherwise)."""
    dof_eff: float | None = field(default=None, metadata=_OMIT_DEFAULT)
    """Effective degrees of freedom of U (None for infinitely many or not stated)."""
    limit_kind: LimitKind = field(default=LimitKind.SYMMETRIC, metadata=_OMIT_DEFAULT)
    """Whether ``mpe`` bounds the value on both sides (±) or is an upper (≤) or lower (≥)
    limit."""

    def check(self, where: str) -> None:
        """Raise :class:`CertificateDataError` (naming ``where``) if the row is inconsistent."""
        _require_quantity(self.error, f"{where}.error")
        if self.point is None:
            _require_text(self.label, f"{where}.label (a row without a point needs a label)")
        else:
            _require_quantity(self.point, f"{where}.point")
        if (self.reference is None) != (self.indication is None):
            raise CertificateDataError(
                f"{where}: give both the reference value and the indication, or neither"
            )
        if self.reference is not None:
            _require_quantity(self.reference, f"{where}.reference")
            _require_quantity(self.indication, f"{where}.indication")
            _require_same_dimension(self.indication, self.reference, f"{where}.indication")
        if self.mpe is not None:
            _require_quantity(self.mpe, f"{where}.mpe")
            _require_same_dimension(self.mpe, self.error, f"{where}.mpe")
            if not self.mpe.magnitude > 0:
                raise CertificateDataError(f"{where}.mpe: the MPE must be positive, got {self.mpe}")
        if (self.expanded_uncertainty is None) != (self.coverage_factor is None):
            raise CertificateDataError(
                f"{where}: an expanded uncertainty needs its coverage factor k and vice versa"
            )
        if self.expanded_uncertainty is not None and self.coverage_factor is not None:
            _require_quantity(self.expanded_uncertainty, f"{where}.expanded_uncertainty")
            _require_same_dimension(
                self.expanded_uncertainty, self.error, f"{where}.expanded_uncertainty"
            )
            if not self.expanded_uncertainty.magnitude >= 0:
                raise CertificateDataError(f"{where}.expanded_uncertainty must not be negative")
            k = self.coverage_factor
            if isinstance(k, bool) or not isinstance(k, int | float) or not (k >= 1):
                raise CertificateDataError(f"{where}.coverage_factor must be ≥ 1, got {k!r}")
            p = self.coverage_probability
            if isinstance(p, bool) or not isinstance(p, int | float) or not (0 < p <= 1):
                raise CertificateDataError(
                    f"{where}.coverage_probability must be in (0, 1], got {p!r}"
                )
        if not isinstance(self.verdict, Verdict):
            raise CertificateDataError(f"{where}.verdict: expected a Verdict, got {self.verdict!r}")


@dataclass(frozen=True)
class ResultSection:
    """The results of one test item (e.g. indication error), with its verdict."""

    key: str
    title: BiText
    rows: tuple[ResultRow, ...]
    verdict: Verdict
    full_scale: Any | None = None
    """The fiducial value (full scale) for errors in %FS."""
    adjustment: AdjustmentStatus | None = None
    note: BiText | None = None
    value_title: BiText | None = None
    """Heading of the result column (default 误差 / Error), e.g. 重复性 / Repeatability."""

    def __post_init__(self) -> None:
        _require_text(self.key, "result section key")
        where = f"results[{self.key}]"
        if not self.rows:
            raise CertificateDataError(f"{where}: a result section needs at least one row")
        object.__setattr__(self, "rows", tuple(self.rows))
        for i, row in enumerate(self.rows):
            row.check(f"{where}.rows[{i}]")
        uses_fs = any(
            q is not None and _is_percent_fs(q)
            for row in self.rows
            for q in (row.error, row.mpe, row.expanded_uncertainty)
        )
        if self.full_scale is not None:
            _require_quantity(self.full_scale, f"{where}.full_scale")
            points = [r.point for r in self.rows if r.point is not None]
            if points:
                _require_same_dimension(self.full_scale, points[0], f"{where}.full_scale")
        elif uses_fs:
            raise CertificateDataError(
                f"{where}: errors in %FS need the full scale (fiducial value) of the range"
            )


@dataclass(frozen=True)
class BudgetAnnexLine:
    """One component of an uncertainty budget printed in the annex."""

    component: str
    distribution: str
    u: Any
    """Standard uncertainty of the input (a quantity, or a number for a relative one)."""
    sensitivity: Any
    """Sensitivity coefficient c (a quantity or a number)."""
    contribution: Any
    """|c·u| in the unit of the result."""
    dof: float | None
    """Degrees of freedom ν (None for infinitely many)."""
    value: str = ""
    """The input's value or basis, as the budget recorded it."""


@dataclass(frozen=True)
class BudgetAnnex:
    """The uncertainty budget of one result, printed when the customer asks for it."""

    section: str
    """Key of the result section the result belongs to."""
    point: str
    """The test point as the section's table names it."""
    measurand: str
    value: Any | None
    lines: tuple[BudgetAnnexLine, ...]
    combined: Any
    dof_eff: float | None
    """Effective degrees of freedom ν_eff (None for infinitely many)."""
    k: float
    expanded: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        _require_text(self.section, "budgets.section")
        if not self.lines:
            raise CertificateDataError(f"budgets[{self.point}]: a budget needs its components")


@dataclass(frozen=True)
class ScopeStatement:
    """What the certificate says about the accreditation scope (ILAC P14) when a result
    lies outside it: the accreditation mark and number are left off."""

    text: BiText
    points: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", tuple(self.points))


@dataclass(frozen=True)
class Conclusion:
    """The overall conclusion of the certificate."""

    verdict: Verdict
    text: BiText


@dataclass(frozen=True)
class Signatory:
    """The person assigned to sign with a meaning; verification checks the signer is this user."""

    meaning: Meaning
    user_id: str
    name: str

    def __post_init__(self) -> None:
        _require_text(self.user_id, f"signatory {self.meaning}: user_id")
        _require_text(self.name, f"signatory {self.meaning}: name")


@dataclass(frozen=True)
class CertificateDocument:
    """Everything a certificate carries; validated on construction."""

    number: str
    certificate_type: CertificateType
    laboratory: Laboratory
    customer: Customer
    item: Item
    dates: CertificateDates
    location: Location
    method: Method
    decision_rule: DecisionRule | None
    standards: tuple[Standard, ...]
    environment: Environment
    sections: tuple[ResultSection, ...]
    conclusion: Conclusion
    original_record: str
    """Original-record number: the run id."""
    simulated: bool
    deviations: tuple[Deviation, ...] = ()
    signatories: tuple[Signatory, ...] = ()
    revision: int = 0
    replaces: Replaces | None = None
    external_providers: tuple[str, ...] = ()
    """Results from external providers, identified (17025 7.8.2.1 p); empty if none."""
    sampling: str | None = None
    """Sampling reference, where relevant (17025 7.8.2.1 k)."""
    software: str = field(default="carbon-lims")
    budgets: tuple[BudgetAnnex, ...] = field(default=(), metadata=_OMIT_DEFAULT)
    """Uncertainty budgets printed as an annex (when the customer asked for them)."""
    outside_scope: ScopeStatement | None = field(default=None, metadata=_OMIT_DEFAULT)
    """Set when a result lies outside the accreditation scope: no accreditation mark."""

    def __post_init__(self) -> None:
        _require_text(self.number, "number")
        if any(ch.isspace() for ch in self.number) or not self.number.isprintable():
            raise CertificateDataError(f"number {self.number!r}: no spaces or control characters")
        if not isinstance(self.certificate_type, CertificateType):
            raise CertificateDataError(
                f"certificate_type: expected a CertificateType, got {self.certificate_type!r}"
            )
        _require_text(self.original_record, "original_record")
        for name in (
            "standards",
            "sections",
            "deviations",
            "signatories",
            "external_providers",
            "budgets",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not isinstance(self.simulated, bool):
            raise CertificateDataError(f"simulated must be True or False, got {self.simulated!r}")
        self._check_amendment()
        self._check_type_rules()
        if not self.standards:
            raise CertificateDataError("standards: list the standards/reference materials used")
        if not self.sections:
            raise CertificateDataError("sections: a certificate needs at least one result section")
        keys = [s.key for s in self.sections]
        if len(set(keys)) != len(keys):
            raise CertificateDataError(f"sections: duplicate result section keys in {keys}")
        self._check_signatories()

    def _check_amendment(self) -> None:
        if isinstance(self.revision, bool) or not isinstance(self.revision, int):
            raise CertificateDataError(f"revision must be an integer, got {self.revision!r}")
        if self.revision < 0:
            raise CertificateDataError(f"revision must be ≥ 0, got {self.revision}")
        if self.replaces is None and self.revision > 0:
            raise CertificateDataError(
                f"revision {self.revision}: an amendment must name the certificate it replaces"
            )
        if self.replaces is not None:
            if self.revision == 0:
                raise CertificateDataError("replaces: an amendment has a revision ≥ 1")
            if self.replaces.number == self.number:
                raise CertificateDataError(
                    "replaces.number: an amendment needs a new number (ISO/IEC 17025 7.8.8)"
                )

    def _check_type_rules(self) -> None:
        kind = self.certificate_type
        verdicts = [s.verdict for s in self.sections]
        overall = self.conclusion.verdict
        has_statement = overall is not Verdict.NO_STATEMENT or any(
            v is not Verdict.NO_STATEMENT for v in verdicts
        )
        if has_statement and self.decision_rule is None:
            raise CertificateDataError(
                "decision_rule: a conformity statement must state its decision rule (17025 7.8.6)"
            )
        if kind is CertificateType.VERIFICATION:
            if overall is not Verdict.PASS:
                raise CertificateDataError(
                    f"conclusion: a verification certificate (检定证书) needs an overall pass, "
                    f"got {overall}; a failed verification gets a notice (检定结果通知书)"
                )
            bad = [s.key for s in self.sections if s.verdict not in _PASSING]
            if bad:
                raise CertificateDataError(
                    f"sections {bad}: a verification certificate cannot contain failed items"
                )
            if self.dates.valid_until is None:
                raise CertificateDataError(
                    "dates.valid_until: a verification certificate states 有效期至 (valid until)"
                )
        else:
            if self.dates.valid_until is not None:
                raise CertificateDataError(
                    f"dates.valid_until: only a passed verification has a validity date, "
                    f"not a {kind.caption.en.lower()}"
                )
        if kind is CertificateType.NON_CONFORMITY:
            if overall not in (Verdict.FAIL, Verdict.UNDETERMINED):
                raise CertificateDataError(
                    "conclusion: a notice of non-conformity (检定结果通知书) needs an overall "
                    f"fail "
                    f"or undetermined verdict, got {overall}"
                )
            if not self.failed_sections:
                raise CertificateDataError(
                    "sections: a notice of non-conformity must list at least one failed item"
                )

    def _check_signatories(self) -> None:
        meanings = [s.meaning for s in self.signatories]
        if len(set(meanings)) != len(meanings):
            raise CertificateDataError(f"signatories: each meaning at most once, got {meanings}")
        users = [s.user_id for s in self.signatories]
        if len(set(users)) != len(users):
            raise CertificateDataError(
                f"signatories: three different people must sign, got user ids {users}"
            )

    @property
    def title(self) -> BiText:
        """Certificate title (检定证书 / Verification Certificate, ...)."""
        return self.certificate_type.caption

    @property
    def accredited(self) -> bool:
        """Whether the certificate carries the accreditation mark and number."""
        return self.outside_scope is None

    @property
    def failed_sections(self) -> tuple[ResultSection, ...]:
        """Test items that failed or whose verdict is undetermined."""
        return tuple(s for s in self.sections if s.verdict not in _PASSING)

    def signatory(self, meaning: Meaning) -> Signatory | None:
        """The person assigned to sign with ``meaning``, if assigned."""
        for s in self.signatories:
            if s.meaning is meaning:
                return s
        return None

    def content_record(self) -> dict[str, Any]:
        """The canonical content record as plain JSON-compatible data."""
        record = _to_json(self)
        assert isinstance(record, dict)
        record["schema"] = CONTENT_SCHEMA
        return record

    def content_json(self) -> bytes:
        """The content record serialized canonically (UTF-8, sorted keys, compact)."""
        return canonical_json(self.content_record())

    def content_hash(self) -> str:
        """SHA-256 (hex) of :meth:`content_json`."""
        return hashlib.sha256(self.content_json()).hexdigest()


def canonical_json(data: Any) -> bytes:
    """Serialize JSON-compatible data canonically: sorted keys, compact, UTF-8."""
    return json.dumps(
        data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def quantity_record(q: Any) -> dict[str, str]:
    """A quantity in the content record: magnitude as the shortest exact decimal, canonical unit."""
    return {"value": repr(float(q.magnitude)), "unit": canonical_unit(q.units)}


def _to_json(value: Any) -> Any:
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, enum.Enum):
        return getattr(value, "record_value", value.value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CertificateDataError(f"not a finite number: {value!r}")
        return value
    if isinstance(value, ureg.Quantity):
        return quantity_record(value)
    if isinstance(value, datetime):
        offset = value.utcoffset()
        assert offset is not None
        return (value - offset).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get("omit_default") and getattr(value, f.name) == f.default)
        }
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    raise CertificateDataError(f"cannot put {type(value).__name__} {value!r} in a content record")


def _require_text(value: object, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CertificateDataError(f"{where}: required text is missing or empty ({value!r})")


def _require_quantity(value: object, where: str) -> None:
    if not isinstance(value, ureg.Quantity):
        raise CertificateDataError(
            f"{where}: expected a quantity with a unit (lims.units), got {value!r}"
        )
    magnitude = value.magnitude
    if isinstance(magnitude, bool) or not isinstance(magnitude, int | float):
        raise CertificateDataError(f"{where}: expected a single number, got {value!r}")
    if not math.isfinite(float(magnitude)):
        raise CertificateDataError(f"{where}: not a finite number: {value!r}")


def _require_dimension(value: object, like: str, where: str) -> None:
    _require_quantity(value, where)
    assert isinstance(value, ureg.Quantity)
    if value.dimensionality != ureg.Quantity(1, like).dimensionality:
        raise CertificateDataError(f"{where}: {value:~P} is not convertible to {like}")


def _require_same_dimension(value: Any, like: Any, where: str) -> None:
    if value.dimensionality != like.dimensionality:
        raise CertificateDataError(f"{where}: {value:~P} does not have the dimension of {like:~P}")


def _is_percent_fs(q: Any) -> bool:
    return bool(q.dimensionality == ureg.Quantity(1, "percent_FS").dimensionality)


def iter_quantities(doc: CertificateDocument) -> Iterable[tuple[str, Any]]:
    """Every (path, quantity) of the results, for cross-checks with the DCC."""
    for s in doc.sections:
        for i, row in enumerate(s.rows):
            for name in (
                "point",
                "reference",
                "indication",
                "error",
                "mpe",
                "expanded_uncertainty",
            ):
                q = getattr(row, name)
                if q is not None:
                    yield f"{s.key}[{i}].{name}", q


_PASSING = (Verdict.PASS, Verdict.NO_STATEMENT)
