"""``lims standards``: due lists, recall list, intermediate checks, status, certificates
(typed in or read from a DCC) and the out-of-tolerance impact workflow."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509

from lims.cli.common import (
    CliError,
    PasswordOpt,
    UserOpt,
    console,
    parse_date,
    session_user,
)
from lims.cli.common import settings as cli_settings
from lims.quality.dcc_intake import DccReading, read_dcc
from lims.quality.due import due_list, recall_list
from lims.quality.oot import (
    CHANNELS,
    DISPOSITIONS,
    OotImpact,
    decide_certificate,
    impact_of,
    open_problems,
    record_notification,
)
from lims.quality.permissions import Permission, require
from lims.quality.standard_certificates import (
    CertificateData,
    parse_range,
    parse_value,
    stored_values,
)
from lims.quality.standards import (
    add_certificate,
    certificate_holder,
    control_chart,
    current_certificate,
    record_intermediate_check,
    return_to_service,
    take_out_of_service,
)
from lims.quality.trace import close_impact, record_out_of_tolerance
from lims.units import parse_quantity

app = typer.Typer(
    help="Measurement standards / 计量标准: due lists, checks, status, certificates.",
    no_args_is_help=True,
)
certificate_app = typer.Typer(
    help="A standard's own calibration certificates / 标准器的校准证书: add, import a DCC, list.",
    no_args_is_help=True,
)
app.add_typer(certificate_app, name="certificate")


def parse_days(text: str) -> int:
    """``30d`` or ``30`` → 30."""
    t = text.strip().lower().removesuffix("d")
    if not t.isdigit():
        raise CliError(f"--within: {text!r} is not a number of days such as 30d")
    return int(t)


@app.command("due")
def standards_due(
    user: UserOpt,
    password_file: PasswordOpt = None,
    within: Annotated[str, typer.Option(help="Horizon, e.g. 30d.")] = "30d",
    today: Annotated[str | None, typer.Option(help="Reference day (default today).")] = None,
) -> None:
    """Standards' certificates, intermediate checks and reference materials coming due."""
    days = parse_days(within)
    day = parse_date(today, "--today") if today else date.today()
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            items = due_list(s, actor, day, days)
    finally:
        db.dispose()
    if not items:
        console.print(f"nothing due within {days} days / {days} 天内无到期项目")
    for i in items:
        state = "OVERDUE 已过期" if i.days_left < 0 else f"{i.days_left:>4} d"
        console.print(f"{i.due_on}  {state:<14} {i.kind:<22} {i.tag:<14} {i.what}", highlight=False)


@app.command("recall")
def standards_recall(
    user: UserOpt,
    password_file: PasswordOpt = None,
    within: Annotated[str, typer.Option(help="Horizon, e.g. 60d.")] = "30d",
    today: Annotated[str | None, typer.Option(help="Reference day (default today).")] = None,
) -> None:
    """Customers' instruments whose verification (有效期至) expires soon."""
    days = parse_days(within)
    day = parse_date(today, "--today") if today else date.today()
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            items = recall_list(s, actor, day, days)
    finally:
        db.dispose()
    for i in items:
        console.print(
            f"{i.valid_until}  {i.days_left:>5} d  {i.customer}  {i.equipment} "
            f"SN {i.serial_number}  ({i.certificate_number})",
            highlight=False,
        )
    console.print(f"{len(items)} instrument(s) to recall / 需通知复检", highlight=False)


@app.command("check")
def standards_check(
    tag: Annotated[str, typer.Argument(help="Standard tag.")],
    quantity: Annotated[str, typer.Option(help="Checked quantity, e.g. flow.")],
    nominal: Annotated[str, typer.Option(help='Nominal value with unit, "1 L/min".')],
    measured: Annotated[str, typer.Option(help="Measured value, same dimension.")],
    limit: Annotated[str, typer.Option(help="Acceptance limit, same dimension.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    on: Annotated[str | None, typer.Option(help="Date performed (default today).")] = None,
    notes: Annotated[str, typer.Option()] = "",
) -> None:
    """Record an intermediate check (期间核查) of a standard."""
    nom = parse_quantity(nominal)
    meas, lim = parse_quantity(measured, nom.units), parse_quantity(limit, nom.units)
    day = parse_date(on, "--on") if on else date.today()
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason="intermediate check") as s:
            check = record_intermediate_check(
                s,
                actor,
                tag,
                performed_on=day,
                quantity=quantity,
                nominal=nom,
                measured=meas,
                limit=lim,
                notes=notes,
            )
            passed = check.passed
    finally:
        db.dispose()
    console.print(
        f"{tag} {quantity}: {'passed 合格' if passed else 'FAILED 不合格'}", highlight=False
    )


@app.command("chart")
def standards_chart(
    tag: Annotated[str, typer.Argument(help="Standard tag.")],
    quantity: Annotated[str, typer.Option(help="Checked quantity.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Print control-chart data of a standard's intermediate checks."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            c = control_chart(s, actor, tag, quantity)
    finally:
        db.dispose()
    console.print(
        f"{tag} {quantity} [{c.unit}]: centre {c.centre:.6g}, s {c.sigma:.3g}, "
        f"warning [{c.lower_warning:.6g}, {c.upper_warning:.6g}], "
        f"control [{c.lower_control:.6g}, {c.upper_control:.6g}]",
        highlight=False,
        markup=False,
    )
    for p in c.points:
        flag = " OUT OF CONTROL 失控" if p.out_of_control else ""
        console.print(f"  {p.performed_on}  {p.deviation:+.6g}{flag}", highlight=False)


@app.command("out-of-service")
def standards_out(
    tag: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Take a standard out of service (停用), with a reason."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as s:
            take_out_of_service(s, actor, tag, reason)
    finally:
        db.dispose()
    console.print(f"{tag}: out of service / 已停用", highlight=False)


@app.command("in-service")
def standards_in(
    tag: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Put a standard back in service (恢复使用), with a reason."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as s:
            return_to_service(s, actor, tag, reason, date.today())
    finally:
        db.dispose()
    console.print(f"{tag}: back in service / 已恢复使用", highlight=False)


def _record(
    tag: str,
    data: CertificateData,
    user: str,
    password_file: Path | None,
    *,
    member: str | None,
    file: Path | None,
    replaces: int | None,
) -> None:
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"certificate {data.number} of {tag} recorded") as s:
            cert = add_certificate(
                s,
                actor,
                cli_settings().archive_dir,
                tag,
                data,
                member=member,
                file=file,
                replaces_id=replaces,
            )
            holder = cert.equipment.asset_tag
            revision = cert.revision
    finally:
        db.dispose()
    console.print(
        f"certificate {data.number} rev {revision} recorded for {holder} / 证书已登记",
        highlight=False,
    )


MemberOpt = Annotated[
    str | None, typer.Option(help="Asset tag of the member the certificate is for.")
]
ReplacesOpt = Annotated[
    int | None, typer.Option(help="Id of the certificate this one corrects (a new revision).")
]


@certificate_app.command("add")
def certificate_add(
    tag: Annotated[str, typer.Argument(help="Standard tag or a member's asset tag.")],
    number: Annotated[str, typer.Option(help="Certificate number.")],
    issuer: Annotated[str, typer.Option(help="Issuing body, e.g. 中国计量科学研究院 NIM.")],
    calibrated: Annotated[str, typer.Option(help="Calibration date YYYY-MM-DD.")],
    issued: Annotated[str, typer.Option(help="Date of issue YYYY-MM-DD.")],
    valid_until: Annotated[str, typer.Option(help="End of validity YYYY-MM-DD.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    value: Annotated[
        list[str] | None,
        typer.Option(help='Certified value "QUANTITY=VALUE;U=U;k=K" (repeat).'),
    ] = None,
    range_: Annotated[
        list[str] | None,
        typer.Option("--range", help='Calibrated range "QUANTITY=LOW..HIGH UNIT" (repeat).'),
    ] = None,
    member: MemberOpt = None,
    file: Annotated[
        Path | None, typer.Option(help="The certificate's file (PDF), archived.")
    ] = None,
    replaces: ReplacesOpt = None,
) -> None:
    """Record a standard's (or a member's) new external certificate; append-only, audited."""
    data = CertificateData(
        number=number,
        issuer=issuer,
        calibrated_on=parse_date(calibrated, "--calibrated"),
        issued_on=parse_date(issued, "--issued"),
        valid_until=parse_date(valid_until, "--valid-until"),
        values=tuple(parse_value(v) for v in value or []),
        ranges=tuple(parse_range(r) for r in range_ or []),
    )
    data.check()
    if file is not None and not file.is_file():
        raise CliError(f"--file {file}: no such file")
    _record(tag, data, user, password_file, member=member, file=file, replaces=replaces)


def _trust_roots(paths: list[Path]) -> list[x509.Certificate]:
    roots = []
    for path in paths:
        try:
            roots.append(x509.load_pem_x509_certificate(path.read_bytes()))
        except OSError as exc:
            raise CliError(f"--trust {path}: cannot read: {exc.strerror}") from exc
        except ValueError as exc:
            raise CliError(f"--trust {path}: not a PEM certificate") from exc
    return roots


@certificate_app.command("import")
def certificate_import(
    tag: Annotated[str, typer.Argument(help="Standard tag or a member's asset tag.")],
    dcc_file: Annotated[Path, typer.Argument(help="The DCC (PTB DCC 3.x XML).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    member: MemberOpt = None,
    issued: Annotated[
        str | None, typer.Option(help="Date of issue, when the DCC states none.")
    ] = None,
    valid_until: Annotated[
        str | None, typer.Option(help="End of validity, when the DCC states none.")
    ] = None,
    trust: Annotated[
        list[Path] | None,
        typer.Option(help="CA certificate (PEM) the DCC's XML signer must be issued by."),
    ] = None,
    replaces: ReplacesOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Record without asking.")] = False,
) -> None:
    """Read a DCC (schema-validated, XML signature checked when present), show it, record it."""
    try:
        xml = dcc_file.read_bytes()
    except OSError as exc:
        raise CliError(f"{dcc_file}: cannot read: {exc.strerror}") from exc
    reading: DccReading = read_dcc(xml, trust_roots=_trust_roots(trust or []))
    data = reading.to_data(
        issued_on=parse_date(issued, "--issued") if issued else None,
        valid_until=parse_date(valid_until, "--valid-until") if valid_until else None,
    )
    data.check()
    for line in reading.summary_lines():
        console.print(line, highlight=False)
    if not yes:
        if not sys.stdin.isatty():
            raise CliError("no terminal to confirm: check what was read and use --yes")
        if not typer.confirm("登记此证书 Record this certificate?", default=False):
            raise CliError("not recorded / 未登记", exit_code=1)
    _record(tag, data, user, password_file, member=member, file=dcc_file, replaces=replaces)


@certificate_app.command("list")
def certificate_list(
    tag: Annotated[str, typer.Argument(help="Standard tag or a member's asset tag.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    member: MemberOpt = None,
) -> None:
    """The current certificate of a standard's member: dates, values, ranges."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            require(actor, Permission.VIEW_RECORDS)
            eq = certificate_holder(s, tag, member)
            cert = current_certificate(s, eq.id)
            if cert is None:
                raise CliError(f"{eq.asset_tag or tag} has no certificate")
            values, ranges = stored_values(cert.values)
            console.print(
                f"{eq.asset_tag}: {cert.number} rev {cert.revision} ({cert.issuer}) "
                f"calibrated {cert.calibrated_on}, issued {cert.issued_on}, "
                f"valid until {cert.valid_until}, source {cert.values.get('source', 'manual')}",
                highlight=False,
            )
            for r in ranges:
                console.print(f"  range {r.describe()}", highlight=False)
            for v in values:
                console.print(f"  {v.describe()}", highlight=False)
    finally:
        db.dispose()


def _print_impact(impact: OotImpact) -> None:
    since = impact.since.isoformat() if impact.since else "the whole history"
    console.print(
        f"impact record {impact.id} ({impact.status}): {impact.tag} out of tolerance "
        f"found {impact.found_on}, since {since}: {impact.finding}",
        highlight=False,
    )
    console.print(f"  runs: {', '.join(map(str, impact.runs)) or 'none'}", highlight=False)
    for c in impact.certificates:
        notified = "; notified " + ", ".join(c.notified) if c.notified else ""
        console.print(
            f"  {c.number:<16} run {c.run_id:<6} {c.customer or '—'}  via {' → '.join(c.via)}  "
            f"decision: {c.disposition or 'PENDING 待定'}{notified}",
            highlight=False,
        )


@app.command("oot")
def standards_oot(
    tag: Annotated[str, typer.Argument(help="Standard, member instrument or material tag.")],
    finding: Annotated[str, typer.Option(help="What was found out of tolerance.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Last day it is known right (YYYY-MM-DD); default all.")
    ] = None,
    found_on: Annotated[str | None, typer.Option(help="Day found (default today).")] = None,
    keep_in_service: Annotated[
        bool, typer.Option("--keep-in-service", help="Do not take it out of service.")
    ] = False,
) -> None:
    """Out-of-tolerance finding: every affected run and certificate (reverse trace), audited."""
    day = parse_date(found_on, "--found-on") if found_on else date.today()
    start = parse_date(since, "--since") if since else None
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"out of tolerance: {finding}") as s:
            rec = record_out_of_tolerance(
                s,
                actor,
                tag,
                finding=finding,
                found_on=day,
                since=start,
                take_out_of_service=not keep_in_service,
            )
            impact = impact_of(s, actor, rec.id)
    finally:
        db.dispose()
    _print_impact(impact)


@app.command("oot-show")
def standards_oot_show(
    impact_id: Annotated[int, typer.Argument(help="The impact record.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """An impact record: affected certificates, decisions, customer notifications."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            impact = impact_of(s, actor, impact_id)
            problems = open_problems(s, impact_id)
    finally:
        db.dispose()
    _print_impact(impact)
    for p in problems:
        console.print(f"  open: {p}", highlight=False)


@app.command("oot-decide")
def standards_oot_decide(
    impact_id: Annotated[int, typer.Argument(help="The impact record.")],
    certificate: Annotated[str, typer.Argument(help="The affected certificate's number.")],
    disposition: Annotated[str, typer.Option(help=f"One of {', '.join(DISPOSITIONS)}.")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Decide what happens to one affected certificate (quality manager)."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as s:
            decide_certificate(s, actor, impact_id, certificate, disposition, reason)
    finally:
        db.dispose()
    console.print(f"{certificate}: {disposition}", highlight=False)


@app.command("oot-notify")
def standards_oot_notify(
    impact_id: Annotated[int, typer.Argument(help="The impact record.")],
    certificate: Annotated[str, typer.Argument(help="The affected certificate's number.")],
    channel: Annotated[str, typer.Option(help=f"One of {', '.join(CHANNELS)}.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    on: Annotated[str | None, typer.Option(help="Day notified (default today).")] = None,
    reference: Annotated[str, typer.Option(help="Letter number, e-mail id, …")] = "",
) -> None:
    """Record that the certificate's customer was notified (quality manager)."""
    day = parse_date(on, "--on") if on else date.today()
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"customer notified of {certificate}") as s:
            record_notification(
                s, actor, impact_id, certificate, notified_on=day, channel=channel,
                reference=reference,
            )  # fmt: skip
    finally:
        db.dispose()
    console.print(f"{certificate}: customer notified {day} by {channel}", highlight=False)


@app.command("oot-close")
def standards_oot_close(
    impact_id: Annotated[int, typer.Argument(help="The impact record.")],
    conclusion: Annotated[str, typer.Option(help="The conclusion (audited).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Close an impact record once every certificate is decided and customers notified."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=conclusion) as s:
            close_impact(s, actor, impact_id, conclusion)
    finally:
        db.dispose()
    console.print(f"impact record {impact_id} closed / 已关闭", highlight=False)
