"""``lims certificate``: draft, sign, issue, export, amend and verify certificates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lims.cli.common import (
    CliError,
    PasswordOpt,
    UserOpt,
    console,
    database,
    parse_date,
    read_password,
    session_user,
    settings,
)
from lims.models.enums import CertificateStatus
from lims.vocabulary import SignatureMeaning as Meaning

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lims.certificates.model import BudgetAnnex
    from lims.services.certificates import CertificateInfo
from lims.services.lab import policy_from

app = typer.Typer(
    help="Certificates: draft, sign (performed → reviewed → approved), export, amend, verify.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _print_info(info: CertificateInfo, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(info.as_json(), ensure_ascii=False))
        return
    console.print(
        f"{info.number}  {info.type.value}  rev {info.revision}  [bold]{info.status.value}[/bold]"
        + ("  (SIMULATED / 模拟)" if info.simulated else ""),
        highlight=False,
    )
    console.print(f"  customer:    {info.customer}", highlight=False)
    console.print(f"  instrument:  {info.instrument}, serial {info.serial_number}", highlight=False)
    console.print(
        f"  run:         {info.run_id}   verdict: {info.overall_verdict}", highlight=False
    )
    if info.valid_until:
        console.print(f"  valid until: {info.valid_until.isoformat()}", highlight=False)
    console.print(f"  content:     SHA-256 {info.content_sha256}", highlight=False)
    if info.replaces:
        console.print(f"  replaces:    {info.replaces} ({info.amendment_reason})", highlight=False)
    if info.superseded_by:
        console.print(f"  superseded by: {info.superseded_by}", highlight=False)
    if info.status_reason:
        console.print(f"  status reason: {info.status_reason}", highlight=False)
    for s in info.signatures:
        console.print(
            f"  signed {s.meaning.value:<9} {s.printed_name} ({s.username}) "
            f"{s.signed_at.isoformat()}",
            highlight=False,
        )
    if info.next_meaning is not None:
        console.print(f"  waiting for: {info.next_meaning.value}", highlight=False)


@app.command("draft")
def draft(
    run_id: Annotated[int, typer.Argument(help="The completed run to certify.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    as_json: JsonOpt = False,
    budget_annex: Annotated[
        bool | None,
        typer.Option(
            "--budget-annex/--no-budget-annex",
            help="Print the uncertainty budgets as an annex (default: as the work-order item "
            "asks).",
        ),
    ] = None,
) -> None:
    """Draft the certificate of a run: 检定证书, 检定结果通知书 or 校准证书, numbered now.

    Every result is first checked against the released accreditation scope (the
    ``cmc_rule`` setting: a U below the CMC is raised to it, or refuses the draft)."""

    from lims.services.certificates import draft_certificate

    rule = settings().cmc_rule or None
    db, actor = session_user(user, password_file)
    try:
        base_url = settings().verification_base_url
        info = draft_certificate(
            db,
            actor,
            run_id,
            budget_annex=budget_annex,
            cmc_rule=rule,
            verification_base_url=base_url,
        )
        _print_info(info, as_json)
    finally:
        db.dispose()


@app.command("sign")
def sign(
    number: Annotated[str, typer.Argument(help="Certificate number.")],
    as_user: Annotated[str, typer.Option("--as", help="The signer's user name.")],
    meaning: Annotated[
        Meaning, typer.Option(help="performed (检定/校准员), reviewed (核验员), approved (批准人).")
    ],
    password_file: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign with your own key; the approval issues the certificate and archives PDF and DCC."""

    from lims.services.certificates import sign_certificate

    s = settings()
    password = read_password(password_file, f"Password of {as_user} / 签名密码: ")
    db = database(s)
    try:
        info = sign_certificate(
            db,
            number,
            as_user,
            password,
            meaning,
            policy_from(s),
            archive_dir=s.archive_dir,
            anchor_file=s.anchor_file,
            anchor_copies=s.anchor_copies,
            tsa_url=s.tsa_url,
            verification_base_url=s.verification_base_url,
        )
        _print_info(info, as_json)
    finally:
        db.dispose()


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc.strerror}") from exc
    console.print(f"written: {path} ({len(data)} bytes)", highlight=False)


@app.command("pdf")
def pdf(
    number: Annotated[str, typer.Argument(help="Certificate number.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the PDF.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Write the certificate's PDF (the signed, issued one once issued)."""

    from lims.services.certificates import certificate_pdf

    db, actor = session_user(user, password_file)
    try:
        _write(output, certificate_pdf(db, actor, number))
    finally:
        db.dispose()


@app.command("dcc")
def dcc(
    number: Annotated[str, typer.Argument(help="Certificate number.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the DCC XML.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Write the DCC 3.1.2 XML of an issued certificate (the signed PDF embedded)."""

    from lims.services.certificates import certificate_dcc

    db, actor = session_user(user, password_file)
    try:
        _write(output, certificate_dcc(db, actor, number))
    finally:
        db.dispose()


@app.command("amend")
def amend(
    number: Annotated[str, typer.Argument(help="The issued certificate to amend.")],
    reason: Annotated[str, typer.Option(help="Why it is amended (printed on the amendment).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft an amendment: new number, references and (once issued) supersedes the original."""

    from lims.services.certificates import amend_certificate

    db, actor = session_user(user, password_file)
    try:
        base_url = settings().verification_base_url
        _print_info(
            amend_certificate(db, actor, number, reason, verification_base_url=base_url),
            as_json,
        )
    finally:
        db.dispose()


@app.command("reject")
def reject(
    number: Annotated[str, typer.Argument(help="The draft to send back.")],
    reason: Annotated[str, typer.Option(help="Why it is rejected.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Reject a draft that is not yet issued; the run can then be drafted again."""

    from lims.services.certificates import reject_certificate

    db, actor = session_user(user, password_file)
    try:
        _print_info(reject_certificate(db, actor, number, reason), False)
    finally:
        db.dispose()


@app.command("revoke")
def revoke(
    number: Annotated[str, typer.Argument(help="The issued certificate to revoke.")],
    reason: Annotated[str, typer.Option(help="Why it is revoked.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Revoke an issued certificate (quality manager)."""

    from lims.services.certificates import revoke_certificate

    db, actor = session_user(user, password_file)
    try:
        _print_info(revoke_certificate(db, actor, number, reason), False)
    finally:
        db.dispose()


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="A certificate PDF or DCC XML.")],
    ca: Annotated[
        Path | None,
        typer.Option(
            "--ca",
            help="The lab CA (PEM, from `lims keys export-ca`): verify offline, no database.",
        ),
    ] = None,
    status: Annotated[
        Path | None,
        typer.Option("--status", help="The lab's signed status list (with --ca)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the signatures, timestamps, the chain to the lab CA, the content and the state.

    With --ca nothing but the given files is read and nothing is written. Exit status:
    0 valid; 1 altered; 3 unverifiable; 4 simulated (intact, never a valid certificate);
    5 superseded; 6 revoked.
    """
    data = _read_input(file, "the certificate file")
    if ca is not None:
        from lims.certificates.errors import CertificateError
        from lims.certificates.verdict import check_offline, read_trust_file
        from lims.logs import file_logging_suspended

        ca_pem = _read_input(ca, "the CA file")
        listing = _read_input(status, "the status list") if status is not None else None
        with file_logging_suspended():
            try:
                roots = read_trust_file(ca_pem, str(ca))
            except CertificateError as exc:
                raise CliError(str(exc)) from exc
            check = check_offline(data, roots, name=str(file), status_list=listing)
    else:
        if status is not None:
            raise CliError("--status needs --ca (the lab's records already know the state)")
        from lims.services.certificates import verify_certificate_file

        db = database()
        try:
            result = verify_certificate_file(db, data, str(file))
        finally:
            db.dispose()
        if result.check is None:
            raise CliError(f"{file}: cannot be verified")
        check = result.check
    if as_json:
        console.print_json(json.dumps(check.as_json(), ensure_ascii=False))
    else:
        for line in check.lines():
            console.print(line, highlight=False, markup=False)
    if not check.ok:
        raise typer.Exit(check.verdict.exit_code)


def _read_input(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read {what}: {exc.strerror}") from exc


@app.command("status-list")
def status_list(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the list.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    ca_password_file: Annotated[
        Path | None,
        typer.Option("--ca-password-file", help="File whose first line is the CA passphrase."),
    ] = None,
) -> None:
    """Write the signed status list: every certificate number with its state, dated."""
    from lims.services.status_list import write_status_list

    ca_password = read_password(ca_password_file, "CA passphrase / CA 口令: ")
    db, actor = session_user(user, password_file)
    try:
        data = write_status_list(db, actor, ca_password)
    finally:
        db.dispose()
    _write(output, data)


@app.command("show")
def show(
    number: Annotated[str, typer.Argument(help="Certificate number.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    as_json: JsonOpt = False,
    budget: Annotated[
        bool,
        typer.Option(
            "--budget", help="Also print the uncertainty budgets, as the certificate's annex."
        ),
    ] = False,
) -> None:
    """Show a certificate's record, signatures and supersession."""

    from lims.services.certificates import certificate_budgets, certificate_info

    db, actor = session_user(user, password_file)
    try:
        info = certificate_info(db, actor, number)
        annexes = certificate_budgets(db, actor, number) if budget else ()
    finally:
        db.dispose()
    if as_json:
        data = info.as_json()
        if budget:
            data["budgets"] = [_budget_json(a) for a in annexes]
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    _print_info(info, False)
    if budget:
        _print_budgets(annexes)


def _budget_json(annex: BudgetAnnex) -> dict[str, object]:
    from lims.certificates.render_parts import BUDGET_COLUMNS, budget_rows

    rows, closing = budget_rows(annex)
    return {
        "section": annex.section,
        "point": annex.point,
        "measurand": annex.measurand,
        "lines": [dict(zip(BUDGET_COLUMNS, row, strict=True)) for row in rows],
        "dof_eff": annex.dof_eff,
        "k": annex.k,
        "summary": closing,
    }


def _print_budgets(annexes: Sequence[BudgetAnnex]) -> None:
    """The budget annex as the PDF prints it (the same texts)."""
    from lims.certificates.render_parts import BUDGET_COLUMNS, budget_rows

    if not annexes:
        console.print("无不确定度评定 / no uncertainty budget stored", highlight=False)
    for annex in annexes:
        rows, closing = budget_rows(annex)
        # one line per component (| separated): words are never folded, whatever the width
        console.print(f"{annex.section} · {annex.point} · {annex.measurand}", highlight=False)
        console.print("  " + " | ".join(BUDGET_COLUMNS), highlight=False)
        for row in rows:
            console.print("  " + " | ".join(row), highlight=False, soft_wrap=True)
        console.print(closing, highlight=False)


@app.command("pending")
def pending(user: UserOpt, password_file: PasswordOpt = None, as_json: JsonOpt = False) -> None:
    """Certificates waiting for a signature you may give."""

    from lims.services.certificates import pending_for

    db, actor = session_user(user, password_file)
    try:
        infos = pending_for(db, actor)
    finally:
        db.dispose()
    if as_json:
        console.print_json(json.dumps([i.as_json() for i in infos], ensure_ascii=False))
        return
    if not infos:
        console.print("nothing waits for your signature / 无待签证书")
    for i in infos:
        meaning = i.next_meaning.value if i.next_meaning else "-"
        console.print(f"{i.number}  {i.type.value}  waits for {meaning}  {i.customer}")


@app.command("list")
def list_(
    user: UserOpt,
    password_file: PasswordOpt = None,
    customer: Annotated[str | None, typer.Option(help="Customer name (part of it).")] = None,
    serial: Annotated[str | None, typer.Option(help="Serial number of the instrument.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Issued on or after.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Issued on or before.")] = None,
    status: Annotated[CertificateStatus | None, typer.Option(help="Status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Search certificates by customer, serial number, issue date and status."""
    from lims.quality.certificate_search import search_certificates
    from lims.quality.permissions import Permission, require

    start = parse_date(date_from, "--from") if date_from else None
    end = parse_date(date_to, "--to") if date_to else None
    db, actor = session_user(user, password_file)
    try:
        require(actor, Permission.VIEW_RECORDS)
        with db.read() as session:
            hits = search_certificates(
                session,
                customer=customer,
                serial=serial,
                date_from=start,
                date_to=end,
                status=status,
                limit=limit,
            )
    finally:
        db.dispose()
    if as_json:
        console.print_json(json.dumps([h.as_json() for h in hits], ensure_ascii=False))
        return
    table = Table("number", "type", "status", "customer", "instrument", "serial", "issued")
    for h in hits:
        table.add_row(
            h.number,
            h.type.value,
            h.status.value,
            h.customer,
            h.instrument,
            h.serial_number,
            h.issued_at.date().isoformat() if h.issued_at else "",
        )
    console.print(table)
    console.print(f"{len(hits)} certificate(s)")
