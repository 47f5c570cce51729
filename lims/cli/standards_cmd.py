"""``lims standards``: due lists, recall list, intermediate checks, status, certificates."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from lims.cli.common import (
    CliError,
    PasswordOpt,
    UserOpt,
    console,
    parse_date,
    session_user,
)
from lims.quality.due import due_list, recall_list
from lims.quality.standards import (
    control_chart,
    record_intermediate_check,
    return_to_service,
    take_out_of_service,
)
from lims.units import parse_quantity

app = typer.Typer(
    help="Measurement standards / 计量标准: due lists, checks, status.", no_args_is_help=True
)


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
