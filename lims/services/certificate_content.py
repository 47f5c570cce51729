"""From a completed run to the content of its certificate.

The run's results, its provenance (standards, reference materials, regulation
table, instruments) and its environment become a
:class:`~lims.certificates.CertificateDocument`. Which document: a passed
verification gives a 检定证书, a failed or undetermined one a 检定结果通知书
listing the failed items, a calibration a 校准证书.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.calc.decision import DECISION_RULES
from lims.calc.rounding import RoundingMode, round_significant, round_to_exponent
from lims.certificates import (
    BiText,
    CertificateDataError,
    CertificateDates,
    CertificateDocument,
    CertificateType,
    Conclusion,
    Customer,
    DecisionRule,
    Deviation,
    DeviationKind,
    Environment,
    Item,
    Laboratory,
    Location,
    Method,
    Replaces,
    ResultRow,
    ResultSection,
    Standard,
    StandardKind,
    Verdict,
)
from lims.models.enums import RunStatus, ServiceKind
from lims.models.enums import Verdict as RunVerdict
from lims.models.lab import LabProfile
from lims.models.runs import Result, RuleOverride, Run
from lims.models.users import User
from lims.units import from_storage, parse_quantity, ureg

__all__ = ["DraftInputs", "build_document", "certificate_type_for"]

#: Titles of the test items the procedures record.
ITEM_TITLES: dict[str, BiText] = {
    "indication_error": BiText("示值误差", "Error of indication"),
    "error": BiText("示值误差", "Error of indication"),
    "repeatability": BiText("重复性", "Repeatability"),
    "response_time": BiText("响应时间", "Response time (T90)"),
    "zero_drift": BiText("零点漂移", "Zero drift"),
    "span_drift": BiText("量程漂移", "Span drift"),
    "energy_error": BiText("工作误差", "Operating (energy) error"),
    "display_error": BiText("电能示值误差", "Energy display error"),
    "payment_error": BiText("付费金额误差", "Payment amount error"),
    "clock_error": BiText("时钟示值误差", "Clock error"),
}

#: The value a section reports, when it is not an error.
_VALUE_TITLES: dict[str, BiText] = {
    "repeatability": BiText("重复性", "Repeatability"),
    "response_time": BiText("响应时间 T90", "Response time T90"),
    "zero_drift": BiText("漂移", "Drift"),
    "span_drift": BiText("漂移", "Drift"),
}

_VERDICTS = {
    RunVerdict.PASS: Verdict.PASS,
    RunVerdict.FAIL: Verdict.FAIL,
    RunVerdict.UNDETERMINED: Verdict.UNDETERMINED,
    RunVerdict.CONDITIONAL_PASS: Verdict.CONDITIONAL_PASS,
    RunVerdict.CONDITIONAL_FAIL: Verdict.CONDITIONAL_FAIL,
    RunVerdict.NOT_STATED: Verdict.NO_STATEMENT,
}

#: Worst first: the verdict of a section or certificate is its worst row's.
_SEVERITY = (
    Verdict.FAIL,
    Verdict.UNDETERMINED,
    Verdict.CONDITIONAL_FAIL,
    Verdict.CONDITIONAL_PASS,
    Verdict.PASS,
    Verdict.NO_STATEMENT,
)

#: Result values that describe the run, not a row of the certificate.
_SKIPPED_ITEMS = {"regulation_table"}


@dataclass(frozen=True)
class DraftInputs:
    """What the certificate needs beyond the run: its number and dates.

    ``drafted_on`` stands in for run dates the run lacks. The date of issue is not an
    input: it is the approval signature's date (``CertificateDates.issue`` stays empty).
    """

    number: str
    drafted_on: date
    valid_until: date | None = None
    revision: int = 0
    replaces: Replaces | None = None


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The most severe verdict (fail before undetermined before pass; none if empty)."""
    found = set(verdicts)
    return next((v for v in _SEVERITY if v in found), Verdict.NO_STATEMENT)


def _quantity(values: dict[str, Any], name: str) -> Any | None:
    stored = values.get(name)
    if isinstance(stored, dict) and "value" in stored and "unit" in stored:
        return from_storage(float(stored["value"]), str(stored["unit"]))
    return None


def _is_fs(q: Any | None) -> bool:
    return q is not None and q.dimensionality == ureg.Quantity(1, "percent_FS").dimensionality


def _first(values: dict[str, Any], names: Sequence[str]) -> tuple[str, Any] | None:
    for name in names:
        q = _quantity(values, name)
        if q is not None:
            return name, q
    return None


def _row(result: Result, where: str) -> ResultRow:
    """One certificate row from a stored result."""
    v = result.values
    mpe_found = _first(v, ("mpe", "limit", "repeatability_limit"))
    mpe = mpe_found[1] if mpe_found else None
    in_fs = _is_fs(mpe)
    if result.item == "repeatability":
        names: tuple[str, ...] = ("repeatability",)
    elif result.item == "response_time":
        names = ("t90",)
    elif result.item.endswith("drift"):
        names = ("drift_fs", "drift") if in_fs else ("drift",)
    else:
        names = ("error_fs", "error") if in_fs else ("error",)
    found = _first(v, names)
    if found is None:
        raise CertificateDataError(f"{where}: result {result.test_point!r} has no {names[0]!r}")
    value = found[1]
    u_names = (
        ("expanded_uncertainty_fs", "expanded_uncertainty", "U")
        if _is_fs(value)
        else ("expanded_uncertainty", "U")
    )
    u_found = _first(v, u_names)
    u = u_found[1] if u_found else None
    if u is not None and u.dimensionality != value.dimensionality:
        u = None
    k = v.get("k")
    k_value = float(k) if isinstance(k, int | float) and u is not None else None
    if k_value is None:
        u = None
    reference, indication = _quantity(v, "reference"), _quantity(v, "indication")
    if (
        reference is None
        or indication is None
        or reference.dimensionality != (indication.dimensionality)
    ):
        reference = indication = None
    point = _quantity(v, "flow") or _quantity(v, "current") or _quantity(v, "reference")
    if point is None and result.item == "response_time":
        point = _quantity(v, "final")
    if mpe is not None and mpe.dimensionality != value.dimensionality:
        mpe = None
    # Round as printed (GB/T 8170; U to two significant digits, never down), so the
    # content record, the PDF and the DCC carry the same numbers.
    if u is not None and u.magnitude > 0:
        u_dec = round_significant(float(u.magnitude), 2, RoundingMode.UP)
        place = int(u_dec.as_tuple().exponent)
        u = ureg.Quantity(float(u_dec), u.units)
        value = _round_at(value, place)
        k_value = round(k_value, 2) if k_value is not None else None
    else:
        value = _round_significant(value)
    absolute_u = _quantity(v, "expanded_uncertainty")
    reading_place = _place_of(absolute_u, reference if reference is not None else point)
    point = _round_reading(point, reading_place, digits=4)
    reference = _round_reading(reference, reading_place)
    indication = _round_reading(indication, reading_place)
    return ResultRow(
        point=point,
        reference=reference,
        indication=indication,
        error=value,
        mpe=mpe,
        expanded_uncertainty=u,
        coverage_factor=k_value,
        verdict=_VERDICTS[RunVerdict(result.verdict)],
        label=result.test_point,
    )


def _round_at(q: Any, place: int) -> Any:
    return ureg.Quantity(float(round_to_exponent(float(q.magnitude), place)), q.units)


def _round_significant(q: Any, digits: int = 4) -> Any:
    if q.magnitude == 0:
        return q
    return ureg.Quantity(float(round_significant(float(q.magnitude), digits)), q.units)


def _place_of(u: Any | None, like: Any | None) -> int | None:
    """The decimal place of U (two significant digits) in the unit of ``like``."""
    if u is None or like is None or u.dimensionality != like.dimensionality:
        return None
    magnitude = float(u.to(like.units).magnitude)
    if magnitude <= 0:
        return None
    return int(round_significant(magnitude, 2, RoundingMode.UP).as_tuple().exponent)


def _round_reading(q: Any | None, place: int | None, digits: int = 6) -> Any | None:
    if q is None:
        return None
    return _round_significant(q, digits) if place is None else _round_at(q, place)


def _repeatability_rows(results: Sequence[Result]) -> list[ResultRow]:
    rows = []
    for r in results:
        rsd = _quantity(r.values, "repeatability")
        if rsd is None:
            continue
        rows.append(
            ResultRow(
                point=_quantity(r.values, "reference"),
                reference=None,
                indication=None,
                error=_round_significant(rsd),
                mpe=None,
                expanded_uncertainty=None,
                coverage_factor=None,
                verdict=Verdict.NO_STATEMENT,
                label=r.test_point,
            )
        )
    return rows


def _sections(results: Sequence[Result], full_scale: Any | None) -> list[ResultSection]:
    by_item: dict[str, list[Result]] = {}
    for r in results:
        if r.item not in _SKIPPED_ITEMS:
            by_item.setdefault(r.item, []).append(r)
    sections: list[ResultSection] = []
    for item, rows_of in by_item.items():
        rows = [_row(r, f"results[{item}]") for r in rows_of]
        uses_fs = any(_is_fs(q) for row in rows for q in (row.error, row.mpe))
        sections.append(
            ResultSection(
                key=item,
                title=ITEM_TITLES.get(item, BiText(item, item)),
                rows=tuple(rows),
                verdict=worst(row.verdict for row in rows),
                full_scale=full_scale if uses_fs else None,
                value_title=_VALUE_TITLES.get(item),
            )
        )
    if "repeatability" not in by_item:
        extra = _repeatability_rows(results)
        if extra:
            sections.append(
                ResultSection(
                    key="repeatability",
                    title=ITEM_TITLES["repeatability"],
                    rows=tuple(extra),
                    verdict=Verdict.NO_STATEMENT,
                    value_title=_VALUE_TITLES["repeatability"],
                    note=BiText("相对标准偏差（RSD）", "Relative standard deviation (RSD)"),
                )
            )
    return sections


def certificate_type_for(service: ServiceKind, overall: Verdict) -> CertificateType:
    """检定证书 for a passed verification, 检定结果通知书 for a failed one, else 校准证书."""
    if service is ServiceKind.CALIBRATION:
        return CertificateType.CALIBRATION
    if overall in (Verdict.PASS, Verdict.NO_STATEMENT):
        return CertificateType.VERIFICATION
    return CertificateType.NON_CONFORMITY


def _standards(provenance: dict[str, Any], where: str) -> list[Standard]:
    out: list[Standard] = []
    for std in provenance.get("standards") or []:
        certs = std.get("certificates") or []
        if not certs:
            raise CertificateDataError(
                f"{where}: standard {std.get('tag')} has no calibration certificate on record"
            )
        out.append(
            Standard(
                name=BiText(std.get("name_zh") or std["tag"], std.get("name_en") or std["tag"]),
                identifier=std["tag"],
                measuring_range=std.get("range") or "—",
                uncertainty_or_class=std.get("uncertainty") or "—",
                certificate_number="; ".join(c["certificate_number"] for c in certs),
                valid_until=min(date.fromisoformat(c["valid_until"]) for c in certs),
                traceability="; ".join(sorted({c["issuer"] for c in certs})),
                kind=StandardKind.STANDARD,
            )
        )
    for rm in provenance.get("reference_materials") or []:
        value = _stored_text(rm.get("certified_value"))
        u = _stored_text(rm.get("expanded_uncertainty"))
        k = rm.get("coverage_factor")
        name = str(rm.get("name") or rm["tag"])
        out.append(
            Standard(
                name=BiText(name, name),
                identifier=f"{rm.get('gbw_number') or ''} {rm['tag']}".strip(),
                measuring_range=value,
                uncertainty_or_class=f"U = {u} (k = {k:g})" if k else f"U = {u}",
                certificate_number=rm.get("certificate_number") or "—",
                valid_until=date.fromisoformat(rm["expires_on"]),
                traceability=f"国家标准物质 National reference material {rm.get('gbw_number')}",
                kind=StandardKind.REFERENCE_MATERIAL,
            )
        )
    return out


def _stored_text(stored: Any) -> str:
    if isinstance(stored, dict) and "value" in stored:
        q = from_storage(float(stored["value"]), str(stored["unit"]))
        return f"{q:~P}"
    return str(stored or "—")


def _environment(run: Run, where: str) -> Environment:
    env = run.environment or {}
    t, rh = env.get("temperature"), env.get("humidity")
    if not (isinstance(t, dict) and isinstance(rh, dict)):
        raise CertificateDataError(
            f"{where}: the run recorded no environmental conditions (temperature and humidity); "
            "a certificate must state them"
        )
    p = env.get("pressure")
    return Environment(
        temperature=from_storage(float(t["value"]), t["unit"]),
        relative_humidity=from_storage(float(rh["value"]), rh["unit"]),
        pressure=from_storage(float(p["value"]), p["unit"]) if isinstance(p, dict) else None,
    )


def _decision_rule(results: Sequence[Result], fallback: str | None) -> DecisionRule | None:
    rule_ids = [r.decision_rule for r in results if r.decision_rule in DECISION_RULES]
    rule_id = rule_ids[0] if rule_ids else fallback
    if rule_id is None or rule_id not in DECISION_RULES:
        return None
    rule = DECISION_RULES[rule_id]
    return DecisionRule(
        rule_id,
        BiText(
            f"{rule.name_zh}：{rule.description_zh}",
            f"{rule.name_en}: {rule.description_en}",
        ),
    )


def _conclusion(
    kind: CertificateType, overall: Verdict, sections: Sequence[ResultSection], regulation: str
) -> Conclusion:
    if kind is CertificateType.VERIFICATION:
        return Conclusion(
            Verdict.PASS,
            BiText(
                f"经检定，该器具符合 {regulation} 的要求，准予作合格器具使用。",
                f"Verified: the instrument meets the requirements of {regulation}.",
            ),
        )
    if kind is CertificateType.NON_CONFORMITY:
        failed = [s for s in sections if s.verdict not in (Verdict.PASS, Verdict.NO_STATEMENT)]
        zh = "、".join(f"{s.title.zh}（{s.verdict.text.zh}）" for s in failed)
        en = "; ".join(f"{s.title.en} ({s.verdict.text.en})" for s in failed)
        return Conclusion(
            overall,
            BiText(
                f"经检定，该器具不符合 {regulation} 的要求。不合格或待定项目：{zh}。",
                f"The instrument does not meet the requirements of {regulation}. "
                f"Failed or undetermined items: {en}.",
            ),
        )
    if overall is Verdict.NO_STATEMENT:
        return Conclusion(
            overall,
            BiText(
                "校准结果见上表，不作符合性判定。",
                "The calibration results are given above; no statement of conformity is made.",
            ),
        )
    return Conclusion(
        overall,
        BiText(
            f"按约定的判定规则，校准结果的总体结论为：{overall.text.zh}。",
            f"Against the agreed decision rule, the overall conclusion is: {overall.text.en}.",
        ),
    )


def _deviations(session: Session, run: Run) -> list[Deviation]:
    out = []
    overrides = session.scalars(
        select(RuleOverride).where(RuleOverride.run_id == run.id).order_by(RuleOverride.id)
    ).all()
    for o in overrides:
        qm = session.get(User, o.quality_manager_id)
        out.append(
            Deviation(
                DeviationKind.OVERRIDE,
                BiText(
                    f"规则 {o.rule} 检查未通过：{o.detail}", f"Rule {o.rule} failed: {o.detail}"
                ),
                reason=o.reason,
                by=qm.full_name if qm else str(o.quality_manager_id),
                at=o.created_at,
            )
        )
    return out


def _full_scale(run: Run, equipment_range: tuple[float | None, str | None]) -> Any | None:
    span = (run.parameters or {}).get("span")
    if isinstance(span, str):
        return parse_quantity(span)
    top, unit = equipment_range
    if top is not None and unit:
        return ureg.Quantity(top, unit)
    return None


def _range_text(lo: float | None, hi: float | None, unit: str | None) -> str:
    if hi is None or not unit:
        return "—"
    q = ureg.Quantity(1, unit)
    return f"({lo or 0:g} – {hi:g}) {q.units:~P}"


def _date(value: datetime | None, fallback: date) -> date:
    return value.date() if value is not None else fallback


def build_document(session: Session, run: Run, inputs: DraftInputs) -> CertificateDocument:
    """The certificate of a completed ``run``.

    Raises :class:`CertificateDataError` naming what is missing or wrong.
    """
    where = f"run {run.id}"
    if run.status is not RunStatus.COMPLETED:
        raise CertificateDataError(
            f"{where} is {run.status.value}: only a completed run is certified"
        )
    if run.practice:
        raise CertificateDataError(f"{where} is a practice run: it cannot be certified")
    item = run.work_order_item
    if item is None:
        raise CertificateDataError(f"{where} belongs to no work-order item")
    lab = session.scalars(select(LabProfile)).first()
    if lab is None:
        raise CertificateDataError("the lab profile is missing: run `lims init`")
    results = session.scalars(
        select(Result).where(Result.run_id == run.id).order_by(Result.id)
    ).all()
    corrected = {r.corrects_id for r in results if r.corrects_id is not None}
    current = [r for r in results if r.id not in corrected]
    if not current:
        raise CertificateDataError(f"{where} has no results")
    equipment = item.equipment
    full_scale = _full_scale(run, (equipment.range_max, equipment.range_unit))
    sections = _sections(current, full_scale)
    if not sections:
        raise CertificateDataError(f"{where} has no results to certify")
    overall = worst(s.verdict for s in sections)
    service = ServiceKind(item.service)
    kind = certificate_type_for(service, overall)
    prov = run.provenance or {}
    procedure = prov.get("procedure") or {}
    table = prov.get("regulation_table") or {}
    regulation = str(procedure.get("regulation") or run.procedure_version.procedure.regulation)
    order = item.work_order
    customer = order.customer
    contact = order.contact
    started = _date(run.started_at, inputs.drafted_on)
    ended = _date(run.ended_at, started)
    receipt = min(order.received_on, started)
    decision_rule = _decision_rule(current, item.decision_rule)
    if overall is Verdict.NO_STATEMENT and kind is CertificateType.CALIBRATION:
        decision_rule = None
    instrument = Item(
        description=_bitext(equipment.description),
        manufacturer=equipment.manufacturer,
        model=equipment.model,
        serial_number=equipment.serial_number,
        asset_tag=equipment.asset_tag or "",
        measuring_range=_range_text(equipment.range_min, equipment.range_max, equipment.range_unit),
        accuracy_class=equipment.accuracy or "—",
        condition_on_receipt=_bitext(item.condition_on_receipt or "—"),
    )
    return CertificateDocument(
        number=inputs.number,
        certificate_type=kind,
        laboratory=Laboratory(
            name=BiText(lab.name_zh, lab.name_en),
            address=BiText(lab.address_zh or lab.address_en, lab.address_en or lab.address_zh),
            accreditation_number=lab.accreditation_number,
            email=lab.email,
            phone=lab.phone,
            city=lab.city,
        ),
        customer=Customer(
            name=customer.name,
            address=customer.address or "—",
            contact_person=contact.name if contact else "—",
            phone=contact.phone if contact else "",
            email=contact.email if contact else "",
        ),
        item=instrument,
        dates=CertificateDates(
            receipt=receipt,
            performance_start=started,
            performance_end=ended,
            issue=None,
            valid_until=inputs.valid_until if kind is CertificateType.VERIFICATION else None,
        ),
        location=Location(
            place=BiText(lab.address_zh or lab.name_zh, lab.address_en or lab.name_en)
        ),
        method=Method(
            regulation_number=regulation,
            title=BiText(
                str(procedure.get("title_zh") or regulation),
                str(procedure.get("title_en") or regulation),
            ),
            table_version=str(table.get("version") or run.procedure_version.version),
            table_has_unverified_values=bool(table.get("unverified")),
            procedure=f"{procedure.get('id', '')} {procedure.get('version', '')}".strip(),
        ),
        decision_rule=decision_rule,
        standards=tuple(_standards(prov, where)),
        environment=_environment(run, where),
        sections=tuple(sections),
        conclusion=_conclusion(kind, overall, sections, regulation),
        original_record=f"RUN-{run.id}",
        simulated=bool(run.simulated),
        deviations=tuple(_deviations(session, run)),
        revision=inputs.revision,
        replaces=inputs.replaces,
        software=f"carbon-lims {prov.get('software_version', '')}".strip(),
    )


def _bitext(text: str) -> BiText:
    """Split "中文 English" texts stored in one field into Chinese and English parts."""
    text = text.strip()
    cut = next((i for i, ch in enumerate(text) if ch.isascii() and ch.isalpha()), None)
    if cut is None or cut == 0:
        return BiText(text, text)
    zh, en = text[:cut].strip(), text[cut:].strip()
    return BiText(zh or text, en or text)
