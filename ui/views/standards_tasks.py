"""The quality manager's and technician's tasks on standards and reference materials, as
form dialogs over the services: register a standard with its equipment, record a new
external certificate, enter an intermediate check, record an out-of-tolerance finding
(the standard goes out of service and an impact assessment lists what it affects), and
receive, open, consume and dispose of reference materials."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtWidgets import QWidget

from lims.quality.materials import (
    dispose_material,
    open_material,
    receive_material,
    record_consumption,
)
from lims.quality.standards import record_external_certificate, record_intermediate_check
from lims.quality.trace import record_out_of_tolerance
from lims.services.lab_register import EquipmentInput, StandardInput, register_standard
from lims.services.materials import ReferenceMaterialInput
from lims.units import UnitParseError, parse_quantity
from ui.context import AppContext
from ui.forms import Field, FormDialog, FormError, parse_day
from ui.i18n import tr


def _quantity(values: dict[str, Any], key: str, like: Any = None) -> Any:
    """The quantity typed in field ``key`` (None when empty); FormError names the field."""
    text = str(values.get(key) or "").strip()
    if not text:
        return None
    try:
        return parse_quantity(text, like) if like is not None else parse_quantity(text)
    except UnitParseError as exc:
        raise FormError(key, f"{tr('form.bad_quantity')}: {exc}") from None


def _required_day(values: dict[str, Any], key: str) -> date:
    day = parse_day(values, key)
    if day is None:
        raise FormError(key, tr("form.required"))
    return day


Done = Callable[[Any], None]


def register_standard_dialog(ctx: AppContext, done: Done, parent: QWidget) -> FormDialog:
    """A new measurement standard and its (first) piece of equipment."""
    fields = [
        Field("tag", "std.col.tag", placeholder="STD-GAS-002"),
        Field("name_zh", "std.name_zh"),
        Field("name_en", "std.name_en"),
        Field("measurand", "std.measurand", required=False),
        Field("range_text", "std.range", required=False),
        Field("uncertainty_text", "std.uncertainty", required=False),
        Field("approval", "std.approval", required=False),
        Field("interval", "std.interval", default="180"),
        Field("asset_tag", "std.asset_tag", placeholder="EQ-GD-002"),
        Field("role", "std.role", placeholder="pile_tester"),
        Field("kind", "wo.kind", placeholder="pile_tester"),
        Field("description", "wo.description"),
        Field("manufacturer", "wo.manufacturer"),
        Field("model", "wo.model"),
        Field("serial_number", "wo.serial"),
    ]

    def work(v: dict[str, Any]) -> str:
        try:
            interval = int(v["interval"])
        except ValueError:
            raise FormError("interval", f"{v['interval']!r}: {tr('form.bad_number')}") from None
        member = EquipmentInput(
            v["asset_tag"],
            v["kind"],
            v["description"],
            v["manufacturer"],
            v["model"],
            v["serial_number"],
            v["role"],
        )
        data = StandardInput(
            v["tag"],
            v["name_zh"],
            v["name_en"],
            (member,),
            approval_certificate=v["approval"],
            measurand=v["measurand"],
            range_text=v["range_text"],
            uncertainty_text=v["uncertainty_text"],
            intermediate_check_interval_days=interval,
        )
        with ctx.db.write(actor=ctx.actor, reason="measurement standard registered") as s:
            return register_standard(s, ctx.actor, data).tag

    return FormDialog(ctx, tr("std.register"), fields, work, done, parent)


def external_certificate_dialog(
    ctx: AppContext, equipment: list[tuple[str, str]], done: Done, parent: QWidget
) -> FormDialog:
    """A standard's new external calibration certificate (of one of its pieces of equipment)."""
    today = ctx.today().isoformat()
    fields = [
        Field("equipment", "std.asset_tag", "combo", equipment),
        Field("issuer", "std.col.issuer"),
        Field("number", "std.col.number"),
        Field("calibrated_on", "std.col.calibrated", "date", default=today),
        Field("issued_on", "std.issued_on", "date", default=today),
        Field("valid_until", "std.col.valid", "date"),
    ]

    def work(v: dict[str, Any]) -> str:
        with ctx.db.write(actor=ctx.actor, reason="external certificate recorded") as s:
            cert = record_external_certificate(
                s,
                ctx.actor,
                ctx.settings.archive_dir,
                equipment_asset_tag=v["equipment"],
                issuer=v["issuer"],
                number=v["number"],
                calibrated_on=_required_day(v, "calibrated_on"),
                issued_on=_required_day(v, "issued_on"),
                valid_until=_required_day(v, "valid_until"),
            )
            return cert.number

    return FormDialog(ctx, tr("std.new_certificate"), fields, work, done, parent)


def intermediate_check_dialog(
    ctx: AppContext, tag: str, done: Callable[[bool], None], parent: QWidget
) -> FormDialog:
    """An intermediate check (期间核查) of ``tag``: passed when |measured - nominal| <= limit."""
    fields = [
        Field("quantity", "std.check_quantity", placeholder="amount_fraction"),
        Field("nominal", "std.nominal", placeholder="400 µmol/mol"),
        Field("measured", "std.measured", placeholder="401.2 µmol/mol"),
        Field("limit", "std.limit", placeholder="4 µmol/mol"),
        Field("performed_on", "std.performed_on", "date", default=ctx.today().isoformat()),
        Field("notes", "wo.notes", required=False),
    ]

    def work(v: dict[str, Any]) -> bool:
        nominal = _quantity(v, "nominal")
        measured = _quantity(v, "measured", nominal.units)
        limit = _quantity(v, "limit", nominal.units)
        with ctx.db.write(actor=ctx.actor, reason="intermediate check") as s:
            check = record_intermediate_check(
                s,
                ctx.actor,
                tag,
                performed_on=_required_day(v, "performed_on"),
                quantity=v["quantity"],
                nominal=nominal,
                measured=measured,
                limit=limit,
                notes=v["notes"],
            )
            return bool(check.passed)

    return FormDialog(ctx, f"{tr('std.check')} {tag}", fields, work, done, parent)


def finding_dialog(
    ctx: AppContext, tag: str, done: Callable[[int], None], parent: QWidget
) -> FormDialog:
    """Out of tolerance: the standard goes out of service and an impact assessment opens."""
    fields = [
        Field("finding", "std.finding"),
        Field("found_on", "std.found_on", "date", default=ctx.today().isoformat()),
        Field("since", "std.since", "date", required=False),
    ]

    def work(v: dict[str, Any]) -> int:
        with ctx.db.write(actor=ctx.actor, reason=v["finding"]) as s:
            record = record_out_of_tolerance(
                s,
                ctx.actor,
                tag,
                finding=v["finding"],
                found_on=_required_day(v, "found_on"),
                since=parse_day(v, "since"),
            )
            return int(record.id)

    return FormDialog(
        ctx, f"{tr('std.out.title')}: {tag}", fields, work, done, parent, intro=tr("std.out.intro")
    )


def receive_material_dialog(ctx: AppContext, done: Done, parent: QWidget) -> FormDialog:
    """A reference material received with its certificate data."""
    fields = [
        Field("tag", "std.col.tag", placeholder="RM-CO2-0800"),
        Field("gbw", "rm.col.gbw", placeholder="GBW08123"),
        Field("name", "std.col.name"),
        Field("component", "rm.component", placeholder="CO2"),
        Field("matrix", "rm.matrix", required=False, placeholder="N2"),
        Field("certified", "rm.certified", placeholder="800 µmol/mol"),
        Field("uncertainty", "rm.uncertainty", placeholder="8 µmol/mol"),
        Field("k", "rm.k", default="2"),
        Field("received_on", "rm.received_on", "date", default=ctx.today().isoformat()),
        Field("expires_on", "rm.col.expires", "date"),
        Field("lot", "rm.lot", required=False),
        Field("cylinder", "rm.cylinder", required=False),
        Field("certificate", "rm.certificate", required=False),
        Field("remaining", "rm.col.remaining", required=False, placeholder="10 MPa"),
        Field("minimum", "rm.minimum", required=False, placeholder="1 MPa"),
    ]

    def work(v: dict[str, Any]) -> str:
        certified = _quantity(v, "certified")
        try:
            k = float(v["k"])
        except ValueError:
            raise FormError("k", f"{v['k']!r}: {tr('form.bad_number')}") from None
        data = ReferenceMaterialInput(
            tag=v["tag"],
            gbw_number=v["gbw"],
            name=v["name"],
            component=v["component"],
            matrix=v["matrix"],
            certified=certified,
            expanded_uncertainty=_quantity(v, "uncertainty", certified.units),
            coverage_factor=k,
            received_on=_required_day(v, "received_on"),
            expires_on=_required_day(v, "expires_on"),
            lot=v["lot"],
            cylinder_number=v["cylinder"],
            certificate_number=v["certificate"],
            remaining=_quantity(v, "remaining"),
            minimum=_quantity(v, "minimum"),
        )
        with ctx.db.write(actor=ctx.actor, reason="reference material received") as s:
            return receive_material(s, ctx.actor, data).tag

    return FormDialog(ctx, tr("rm.receive"), fields, work, done, parent)


def consume_dialog(ctx: AppContext, tag: str, done: Done, parent: QWidget) -> FormDialog:
    """What is left of a reference material after use (cylinder pressure or mass)."""
    fields = [
        Field("remaining", "rm.col.remaining", placeholder="6.5 MPa"),
        Field("on", "rm.on", "date", default=ctx.today().isoformat()),
        Field("note", "wo.notes", required=False),
    ]

    def work(v: dict[str, Any]) -> str:
        with ctx.db.write(actor=ctx.actor, reason="reference material consumed") as s:
            rm = record_consumption(
                s, ctx.actor, tag, _quantity(v, "remaining"), _required_day(v, "on"), v["note"]
            )
            return f"{rm.tag}: {rm.remaining:g}"

    return FormDialog(ctx, f"{tr('rm.consume')} {tag}", fields, work, done, parent)


def open_dialog(ctx: AppContext, tag: str, done: Done, parent: QWidget) -> FormDialog:
    """Open (start using) a reference material."""
    fields = [Field("on", "rm.on", "date", default=ctx.today().isoformat())]

    def work(v: dict[str, Any]) -> str:
        with ctx.db.write(actor=ctx.actor, reason="reference material opened") as s:
            return open_material(s, ctx.actor, tag, _required_day(v, "on")).tag

    return FormDialog(ctx, f"{tr('rm.open')} {tag}", fields, work, done, parent)


def dispose_dialog(ctx: AppContext, tag: str, done: Done, parent: QWidget) -> FormDialog:
    """Dispose of a reference material with a reason."""
    fields = [
        Field("reason", "common.reason"),
        Field("on", "rm.on", "date", default=ctx.today().isoformat()),
    ]

    def work(v: dict[str, Any]) -> str:
        with ctx.db.write(actor=ctx.actor, reason=v["reason"]) as s:
            return dispose_material(s, ctx.actor, tag, _required_day(v, "on"), v["reason"]).tag

    return FormDialog(ctx, f"{tr('rm.dispose')} {tag}", fields, work, done, parent)
