"""From a completed run to the content of its certificate.

The run's typed results (:mod:`lims.results`), its provenance (standards, equipment,
reference materials, instruments), its own regulation table and its environment become a
:class:`~lims.certificates.CertificateDocument`. Which document: a passed verification
gives a 检定证书, a failed or undetermined one a 检定结果通知书 listing the failed items,
a calibration a 校准证书. Nothing here interprets stored keys: each result says what its
value, limit and uncertainty are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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
    PerformanceLocation,
    Replaces,
    ResultRow,
    ResultSection,
    ScopeStatement,
    Standard,
    StandardKind,
    Verdict,
)
from lims.lab_time import local_date
from lims.models.enums import RunStatus, ServiceKind
from lims.models.lab import LabProfile
from lims.models.onsite import RunSite, Site, SiteVisit
from lims.models.runs import Result, RuleOverride, Run
from lims.models.users import User
from lims.models.work import RegulationTable as TableRow
from lims.quality.scope import PointStatus, ScopeDecision
from lims.results import Characteristic, ErrorForm, LimitKind, ResultRecord, Uncertainty
from lims.results_legacy import LEGACY_TABLE_NOTE, record_of
from lims.services.certificate_budgets import budget_annexes
from lims.units import display_unit, from_storage, ureg
from lims.vocabulary import worst_verdict

__all__ = ["DraftInputs", "build_document", "certificate_type_for"]


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
    budget_annex: bool = False
    """Print the uncertainty budgets as an annex (the customer asked for them)."""
    scope: ScopeDecision | None = None
    """The results checked against the accreditation scope (ILAC P14): raised U's are
    printed as the CMC, a result outside the scope takes the accreditation mark off."""


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The most severe verdict (fail before undetermined before pass; none if empty)."""
    return worst_verdict(verdicts)


def _label(rec: ResultRecord) -> str:
    label = rec.point.label
    return label.zh if label.zh == label.en else f"{label.zh} {label.en}"


def _row(rec: ResultRecord, conformity: bool = True) -> ResultRow:
    """One certificate row from a typed result, rounded as printed (GB/T 8170).

    Without ``conformity`` (a calibration whose customer asked for no statement of
    conformity) the row carries neither the limit nor a verdict."""
    value = rec.value
    u = rec.uncertainty.expanded if rec.uncertainty is not None else None
    k_value = rec.uncertainty.k if rec.uncertainty is not None else None
    # U to two significant digits (never down), the result to the same place, so the
    # content record, the PDF and the DCC carry the same numbers
    if u is not None and u.magnitude > 0:
        u_dec = round_significant(float(u.magnitude), 2, RoundingMode.UP)
        place = int(u_dec.as_tuple().exponent)
        u = ureg.Quantity(float(u_dec), u.units)
        value = _round_at(value, place)
        k_value = round(k_value, 2) if k_value is not None else None
    else:
        value = _round_characteristic(value)
        if u is not None:  # a zero U is not printed
            u = k_value = None
    reference, indication = rec.reference, rec.indication
    reading_place = _place_of(_reading_uncertainty(rec), reference)
    point = _round_reading(rec.point.nominal, reading_place, digits=4)
    return ResultRow(
        point=point,
        reference=_round_reading(reference, reading_place),
        indication=_round_reading(indication, reading_place),
        error=value,
        mpe=_stated_limit(rec.limit.value) if rec.limit is not None and conformity else None,
        expanded_uncertainty=u,
        coverage_factor=k_value,
        verdict=rec.verdict if conformity else Verdict.NO_STATEMENT,
        limit_kind=rec.limit.kind if rec.limit is not None and conformity else LimitKind.SYMMETRIC,
        label=_label(rec),
        coverage_probability=rec.uncertainty.coverage_probability
        if rec.uncertainty is not None
        else 0.95,
        dof_eff=_dof(rec) if u is not None else None,
    )


def _dof(rec: ResultRecord) -> float | None:
    """ν_eff of the result's U, to one decimal (None for infinitely many)."""
    if rec.uncertainty is None or not math.isfinite(rec.uncertainty.dof_eff):
        return None
    return round(float(rec.uncertainty.dof_eff), 1)


def _reading_uncertainty(rec: ResultRecord) -> Any | None:
    """U in the unit of the readings: absolute, from %FS, or a relative U times the
    reference value."""
    u = rec.absolute_uncertainty
    if u is not None or rec.uncertainty is None or rec.reference is None:
        return u
    rel = rec.uncertainty.expanded
    if rec.form is ErrorForm.RELATIVE and rel.dimensionless:
        return abs(rec.reference) * float(rel.to("dimensionless").magnitude)
    return None


def _round_at(q: Any, place: int) -> Any:
    return ureg.Quantity(float(round_to_exponent(float(q.magnitude), place)), q.units)


def _stated_limit(q: Any) -> Any:
    """A limit as the certificate states it (at most three significant digits)."""
    from lims.certificates.numbers import limit_number

    return ureg.Quantity(float(limit_number(float(q.magnitude))), q.units)


def _round_characteristic(q: Any) -> Any:
    """A value without U: two significant digits, never coarser than units
    (:func:`lims.certificates.numbers.value_text`)."""
    from lims.certificates.numbers import value_text

    return ureg.Quantity(float(value_text(float(q.magnitude))), q.units)


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


def _sections(results: Sequence[ResultRecord], conformity: bool = True) -> list[ResultSection]:
    by_kind: dict[str, list[ResultRecord]] = {}
    for r in results:
        by_kind.setdefault(r.characteristic.value, []).append(r)
    sections: list[ResultSection] = []
    for kind, records in by_kind.items():
        characteristic = records[0].characteristic
        rows = [_row(r, conformity) for r in records]
        full_scale = next((r.full_scale for r in records if r.form is ErrorForm.FIDUCIAL), None)
        is_value = all(r.form is ErrorForm.VALUE for r in records)
        sections.append(
            ResultSection(
                key=kind,
                title=characteristic.caption,
                rows=tuple(rows),
                verdict=worst(row.verdict for row in rows),
                full_scale=full_scale,
                value_title=characteristic.value_title if is_value else None,
                note=BiText("相对标准偏差（RSD）", "Relative standard deviation (RSD)")
                if characteristic is Characteristic.REPEATABILITY
                and all(r.limit is None for r in records)
                else None,
            )
        )
    return sections


def certificate_type_for(service: ServiceKind, overall: Verdict) -> CertificateType:
    """检定证书 for a passed verification, 检定结果通知书 for a failed one, else 校准证书."""
    return CertificateType.for_result(service, overall)


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
    for eq in provenance.get("equipment_details") or []:
        out.append(
            Standard(
                name=_bitext(eq.get("description") or eq["asset_tag"]),
                identifier=eq["asset_tag"],
                measuring_range=eq.get("range") or "—",
                uncertainty_or_class=eq.get("accuracy") or "—",
                certificate_number=eq.get("certificate_number") or "—",
                valid_until=date.fromisoformat(eq["valid_until"]),
                traceability=eq.get("issuer") or "—",
                kind=StandardKind.STANDARD,
            )
        )
    for rm in provenance.get("reference_materials") or []:
        value = _stored_text(rm.get("certified_value"))
        u = _stored_text(rm.get("expanded_uncertainty"))
        k = rm.get("coverage_factor")
        name = str(rm.get("name") or rm["tag"])
        zero = _is_zero(rm.get("certified_value"))
        out.append(
            Standard(
                name=_bitext(name),
                identifier=f"{rm.get('gbw_number') or ''} {rm['tag']}".strip(),
                measuring_range="零点气 zero gas" if zero else value,
                uncertainty_or_class="—"
                if zero or _is_zero(rm.get("expanded_uncertainty"))
                else (f"U = {u} (k = {k:g})" if k else f"U = {u}"),
                certificate_number=rm.get("certificate_number") or "—",
                valid_until=date.fromisoformat(rm["expires_on"]),
                traceability=f"国家标准物质 National reference material {rm.get('gbw_number')}",
                kind=StandardKind.REFERENCE_MATERIAL,
            )
        )
    return out


def _is_zero(stored: Any) -> bool:
    return isinstance(stored, dict) and "value" in stored and float(stored["value"]) == 0


def _stored_text(stored: Any) -> str:
    if isinstance(stored, dict) and "value" in stored:
        q = from_storage(float(stored["value"]), str(stored["unit"]))
        return f"{q.magnitude} {display_unit(q.units)}"  # %vol has no pint symbol
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


def _decision_rule(results: Sequence[ResultRecord], fallback: str | None) -> DecisionRule | None:
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
                "校准结果见本证书“校准结果”部分，不作符合性判定。",
                "The calibration results are given in the section Calibration results; "
                "no statement of conformity is made.",
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
    for d in (run.plan or {}).get("deviations", []):
        qm = session.scalars(select(User).where(User.username == d["approved_by"])).one_or_none()
        out.append(
            Deviation(
                DeviationKind.DEVIATION,
                BiText(
                    f"参数 {d['name']}：委托项登记 {d['item_value']}，本次按 {d['value']}",
                    f"Parameter {d['name']}: the item registers {d['item_value']}; "
                    f"this run used {d['value']}",
                ),
                reason=d["reason"],
                by=qm.full_name if qm else d["approved_by"],
                at=run.created_at,
            )
        )
    return out


def _range_text(lo: float | None, hi: float | None, unit: str | None) -> str:
    if hi is None or not unit:
        return "—"
    q = ureg.Quantity(1, unit)
    return f"({lo or 0:g} – {hi:g}) {display_unit(q.units)}"


def _date(value: datetime | None, fallback: date, time_zone: str) -> date:
    return local_date(value, time_zone) if value is not None else fallback


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
    rows = session.scalars(
        select(Result)
        .where(Result.run_id == run.id, Result.item != LEGACY_TABLE_NOTE)
        .order_by(Result.id)
    ).all()
    corrected = {r.corrects_id for r in rows if r.corrects_id is not None}
    current_rows = [r for r in rows if r.id not in corrected]
    current = [_claimed(record_of(r), r.id, inputs.scope) for r in current_rows]
    if not current:
        raise CertificateDataError(f"{where} has no results")
    equipment = item.equipment
    service = ServiceKind(item.service)
    # a calibration states conformity only when the customer asked for it (a decision rule)
    conformity = service is ServiceKind.VERIFICATION or item.decision_rule is not None
    sections = _sections(current, conformity)
    if not sections:
        raise CertificateDataError(f"{where} has no results to certify")
    overall = worst(s.verdict for s in sections)
    kind = certificate_type_for(service, overall)
    prov = run.provenance or {}
    procedure = prov.get("procedure") or {}
    table = prov.get("regulation_table") or {}
    regulation = str(procedure.get("regulation") or run.procedure_version.procedure.regulation)
    table_row = session.get(TableRow, run.regulation_table_id) if run.regulation_table_id else None
    order = item.work_order
    customer = order.customer
    contact = order.contact
    started = _date(run.started_at, inputs.drafted_on, lab.time_zone)
    ended = _date(run.ended_at, started, lab.time_zone)
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
            time_zone=lab.time_zone,
        ),
        location=_location(session, run, lab),
        method=Method(
            regulation_number=regulation,
            title=BiText(
                str(procedure.get("title_zh") or regulation),
                str(procedure.get("title_en") or regulation),
            ),
            table_version=table_row.version if table_row else str(table.get("version")),
            table_has_unverified_values=table_row.has_unverified
            if table_row
            else bool(table.get("unverified")),
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
        budgets=budget_annexes(current_rows, current, sections) if inputs.budget_annex else (),
        outside_scope=_scope_statement(inputs.scope),
    )


def _claimed(rec: ResultRecord, result_id: int, scope: ScopeDecision | None) -> ResultRecord:
    """The record with U raised to the CMC where the scope check raised it."""
    if scope is None or rec.uncertainty is None:
        return rec
    point = next((p for p in scope.raised if p.result_id == result_id), None)
    if point is None or point.reported_u is None or point.claimed_u is None:
        return rec
    ratio = float((point.claimed_u / point.reported_u).to("dimensionless").magnitude)
    u = rec.uncertainty
    raised = Uncertainty(u.expanded * ratio, u.k, u.coverage_probability, u.dof_eff)
    return replace(rec, uncertainty=raised)


def _scope_statement(scope: ScopeDecision | None) -> ScopeStatement | None:
    """The certificate's statement when the accreditation mark is taken off."""
    if scope is None:
        return None
    text = scope.statement()
    if text is None:
        return None
    points = tuple(p.test_point for p in scope.points if p.status is PointStatus.OUTSIDE)
    return ScopeStatement(BiText(*text), points)


def _location(session: Session, run: Run, lab: LabProfile) -> Location:
    """The lab, or the customer's site when the run is marked as done on site."""
    mark = session.get(RunSite, run.id)
    visit = session.get(SiteVisit, mark.visit_id) if mark is not None else None
    site = session.get(Site, visit.site_id) if visit is not None else None
    if site is None:
        return Location(BiText(lab.address_zh or lab.name_zh, lab.address_en or lab.name_en))
    plant, point = _bitext(site.plant), _bitext(site.point)
    zh = f"现场：{plant.zh}，{point.zh}" + (f"（{site.address}）" if site.address else "")
    en = f"on site: {plant.en}, {point.en}" + (f" ({site.address})" if site.address else "")
    return Location(BiText(zh, en), PerformanceLocation.CUSTOMER)


def _bitext(text: str) -> BiText:
    """Split "中文 English" texts stored in one field into Chinese and English parts."""
    text = text.strip()
    cut = next((i for i, ch in enumerate(text) if ch.isascii() and ch.isalpha()), None)
    if cut is None or cut == 0:
        return BiText(text, text)
    zh, en = text[:cut].strip(), text[cut:].strip()
    return BiText(zh or text, en or text)
