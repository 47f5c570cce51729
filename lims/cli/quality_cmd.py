"""``lims users`` (accounts, authorizations), ``lims incident``, ``lims pt`` and the
reference-material life cycle.

Every command logs the user in (``--user``, ``--password-file`` or a prompt, or the
session of ``lims login`` where :mod:`lims.cli.sessions` allows it) and the services check
the permission; nothing is written when a value is refused. The account services (and
with them the password hasher) are imported by the ``users`` commands only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from lims.audit import clipped
from lims.cli.common import (
    CliError,
    PasswordOpt,
    UserOpt,
    console,
    database,
    options_for,
    parse_date,
    read_password,
    session_user,
    settings,
)
from lims.models import User
from lims.models.enums import Role
from lims.quality.incidents import CATEGORIES, close_incident, list_incidents, report_incident
from lims.quality.materials import dispose_material, open_material, record_consumption
from lims.quality.proficiency import record_proficiency_test
from lims.services.lab import policy_from
from lims.units import parse_quantity

users_app = typer.Typer(
    help="Accounts: add, authorize, deactivate, locked accounts, unlock, password change.",
    no_args_is_help=True,
)
incident_app = typer.Typer(
    help="Incident log / 故障与纠正措施 (ISO/IEC 17025 7.11.3).", no_args_is_help=True
)
pt_app = typer.Typer(
    help="Proficiency tests and inter-comparisons / 能力验证与比对 (En).", no_args_is_help=True
)
rm_life_app = typer.Typer()  # commands added to ``lims rm``
#: The option each account column comes from (named when a value is too long).
_USER_COLUMNS = {
    "users.username": "USERNAME",
    "users.full_name": "--name",
    "users.full_name_en": "--name-en",
}


def _day(text: str | None, option: str) -> date:
    return parse_date(text, option) if text else date.today()


def _roles(values: list[str]) -> list[Role]:
    known = {r.value: r for r in Role}
    out = []
    for v in values:
        role = known.get(v.strip().lower())
        if role is None:
            raise CliError(f"--role: {v!r} is not one of {', '.join(known)}")
        out.append(role)
    return out


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The new account's user name (ASCII).")],
    name: Annotated[str, typer.Option(help="Printed name, shown on signatures (e.g. 张伟).")],
    role: Annotated[list[str], typer.Option(help="A role (repeat for several).")],
    new_password_file: Annotated[
        Path, typer.Option(help="File whose first line is the new account's initial password.")
    ],
    user: UserOpt,
    password_file: PasswordOpt = None,
    name_en: Annotated[str, typer.Option(help="Printed name in English.")] = "",
    valid_until: Annotated[
        str | None, typer.Option(help="Last day the account may be used (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Create an account with its roles (administrator)."""
    from lims.quality.accounts import add_user

    roles = _roles(role)
    until = parse_date(valid_until, "--valid-until") if valid_until else None
    new_password = read_password(new_password_file)
    db, actor = session_user(user, password_file)
    try:
        with (
            options_for(_USER_COLUMNS),
            db.write(actor=actor, reason=f"account {clipped(username)} created") as s,
        ):
            add_user(
                s,
                actor,
                username,
                name,
                new_password,
                roles,
                policy_from(settings()),
                full_name_en=name_en,
                valid_until=until,
            )
    finally:
        db.dispose()
    console.print(
        f"created {username} ({', '.join(sorted(r.value for r in roles))})", highlight=False
    )


@users_app.command("authorize")
def users_authorize(
    username: Annotated[str, typer.Argument(help="The account to authorize.")],
    procedure: Annotated[str, typer.Option(help="Procedure id, e.g. jjg635.")],
    valid_until: Annotated[str, typer.Option(help="Last valid day (YYYY-MM-DD).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    valid_from: Annotated[str | None, typer.Option(help="First valid day (default today).")] = None,
    competence: Annotated[
        str, typer.Option(help="Number of the certificate of competence (上岗证).")
    ] = "",
) -> None:
    """Authorize a user to perform a procedure between two dates (quality manager)."""
    from lims.quality.accounts import authorize

    start = _day(valid_from, "--valid-from")
    end = parse_date(valid_until, "--valid-until")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"authorization of {username} for {procedure}") as s:
            authorize(s, actor, username, procedure, start, end, competence_certificate=competence)
    finally:
        db.dispose()
    console.print(f"{username} authorized for {procedure} {start} – {end}", highlight=False)


@users_app.command("deactivate")
def users_deactivate(
    username: Annotated[str, typer.Argument(help="The account to deactivate.")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Deactivate an account: it can no longer log in, sign or run (administrator)."""
    from lims.quality.accounts import deactivate_user

    _account_change(username, reason, user, password_file, deactivate_user, "deactivated")


def _account_change(
    username: str,
    reason: str,
    user: str,
    password_file: Path | None,
    change: Callable[[Session, User, str], object],
    done: str,
) -> None:
    """Apply ``change`` to the account ``username`` as the logged-in user, with a reason."""
    if not reason.strip():
        raise CliError(f"--reason: say why the account is {done}")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as s:
            change(s, actor, username)
    finally:
        db.dispose()
    console.print(f"{done} {username}", highlight=False)


@users_app.command("failures")
def users_failures(user: UserOpt, password_file: PasswordOpt = None) -> None:
    """Failed and refused logins from the audit trail, newest first (quality manager)."""
    from lims.quality.accounts import failed_attempts

    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            rows = failed_attempts(s, actor)
    finally:
        db.dispose()
    for r in rows:
        console.print(
            f"{r.occurred_at:%Y-%m-%d %H:%M:%S} {r.username:<16} {r.action:<14} {r.why}",
            highlight=False,
        )
    console.print(f"{len(rows)} failed or refused login(s)", highlight=False)


@users_app.command("locked")
def users_locked(user: UserOpt, password_file: PasswordOpt = None) -> None:
    """Locked accounts and accounts with failed logins (quality manager, administrator)."""
    from lims.quality.accounts import locked_accounts

    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            rows = locked_accounts(s, actor)
    finally:
        db.dispose()
    for r in rows:
        state = f"LOCKED 已锁定 {r.locked_at:%Y-%m-%d %H:%M} UTC" if r.locked_at else "active"
        console.print(
            f"{r.username:<12} {r.full_name:<16} failures {r.failed_logins:<3} {state}",
            highlight=False,
        )
    console.print(f"{len(rows)} account(s)", highlight=False)


@users_app.command("unlock")
def users_unlock(
    username: Annotated[str, typer.Argument(help="The account to unlock.")],
    reason: Annotated[str, typer.Option(help="Why it is unlocked (audited).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Unlock an account after repeated failed logins (administrator)."""
    from lims.quality.accounts import unlock_user

    _account_change(username, reason, user, password_file, unlock_user, "unlocked")


@users_app.command("passwd")
def users_passwd(
    user: UserOpt,
    password_file: Annotated[
        Path | None, typer.Option(help="File: line 1 the old password, line 2 the new one.")
    ] = None,
) -> None:
    """Change your own password (the policy and ageing apply)."""
    from lims.quality.accounts import change_password

    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"--password-file: {password_file} cannot be read ({exc})") from exc
        if len(lines) < 2:
            raise CliError(f"{password_file}: needs the old password and the new one on two lines")
        old, new = lines[0], lines[1]
    else:
        old = read_password(None, "Old password / 原密码: ")
        new = read_password(None, "New password / 新密码: ")
        if read_password(None, "Repeat / 再次输入: ") != new:
            raise CliError("the new passwords differ")
    s = settings()
    db = database(s)
    try:
        with db.write(reason="password change") as session:
            change_password(session, user, old, new, policy_from(s))
    finally:
        db.dispose()
    console.print(f"password of {user} changed", highlight=False)


@incident_app.command("report")
def incident_report(
    category: Annotated[str, typer.Option(help=f"One of: {', '.join(CATEGORIES)}.")],
    title: Annotated[str, typer.Option()],
    description: Annotated[str, typer.Option()],
    user: UserOpt,
    password_file: PasswordOpt = None,
    impact: Annotated[str, typer.Option(help="Effect on results or certificates.")] = "",
) -> None:
    """Record a system failure, equipment failure or data-integrity incident."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason="incident reported") as s:
            inc = report_incident(
                s, actor, category=category, title=title, description=description, impact=impact
            )
            number = inc.id
    finally:
        db.dispose()
    console.print(f"incident {number} recorded", highlight=False)


@incident_app.command("close")
def incident_close(
    incident_id: Annotated[int, typer.Argument()],
    action: Annotated[str, typer.Option(help="The corrective action taken.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Close an incident with its corrective action (quality manager)."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason="corrective action") as s:
            close_incident(s, actor, incident_id, action)
    finally:
        db.dispose()
    console.print(f"incident {incident_id} closed", highlight=False)


@incident_app.command("list")
def incident_list(
    user: UserOpt,
    password_file: PasswordOpt = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False,
) -> None:
    """List incidents, newest first."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            for i in list_incidents(s, actor, open_only=open_only):
                console.print(
                    f"{i.id:<5} {i.occurred_at:%Y-%m-%d} {i.status:<7} {i.category:<18} {i.title}"
                    + (f"  → {i.corrective_action}" if i.corrective_action else ""),
                    highlight=False,
                )
    finally:
        db.dispose()


@pt_app.command("record")
def pt_record(
    scheme: Annotated[str, typer.Option(help="Scheme or comparison name.")],
    measurand: Annotated[str, typer.Option()],
    lab_value: Annotated[str, typer.Option(help='Our result with unit, "1003 umol/mol".')],
    lab_u: Annotated[str, typer.Option(help="Our expanded uncertainty U (k=2).")],
    ref_value: Annotated[str, typer.Option(help="Reference (assigned) value.")],
    ref_u: Annotated[str, typer.Option(help="Its expanded uncertainty U (k=2).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    provider: Annotated[str, typer.Option()] = "",
    round_code: Annotated[str, typer.Option("--round")] = "",
    on: Annotated[str | None, typer.Option(help="Date performed (default today).")] = None,
) -> None:
    """Record a proficiency-test result; prints En and whether |En| ≤ 1."""
    x_lab = parse_quantity(lab_value)
    values = {
        "lab_value": x_lab,
        "lab_uncertainty": parse_quantity(lab_u, x_lab.units),
        "reference_value": parse_quantity(ref_value, x_lab.units),
        "reference_uncertainty": parse_quantity(ref_u, x_lab.units),
    }
    day = _day(on, "--on")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason="proficiency test result") as s:
            pt = record_proficiency_test(
                s,
                actor,
                scheme=scheme,
                measurand=measurand,
                performed_on=day,
                provider=provider,
                round_code=round_code,
                **values,
            )
            en, ok = pt.en, pt.satisfactory
    finally:
        db.dispose()
    verdict = "满意 satisfactory" if ok else "不满意 unsatisfactory"
    console.print(f"En = {en:.2f}  ({verdict})", highlight=False)


@rm_life_app.command("open")
def rm_open(
    tag: Annotated[str, typer.Argument()],
    user: UserOpt,
    password_file: PasswordOpt = None,
    on: Annotated[str | None, typer.Option(help="Date opened (default today).")] = None,
) -> None:
    """Record that a reference material was opened (put into use)."""
    day = _day(on, "--on")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason="reference material opened") as s:
            open_material(s, actor, tag, day)
    finally:
        db.dispose()
    console.print(f"{tag} opened on {day}", highlight=False)


@rm_life_app.command("consume")
def rm_consume(
    tag: Annotated[str, typer.Argument()],
    remaining: Annotated[str, typer.Option(help='What is left: "6.5 MPa" or "420 mg".')],
    user: UserOpt,
    password_file: PasswordOpt = None,
    note: Annotated[str, typer.Option()] = "",
    on: Annotated[str | None, typer.Option(help="Date (default today).")] = None,
) -> None:
    """Record the remaining cylinder pressure or mass; below the minimum it is exhausted."""
    left = parse_quantity(remaining)
    day = _day(on, "--on")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason="reference material consumption") as s:
            rm = record_consumption(s, actor, tag, left, day, note)
            status = rm.status.value
    finally:
        db.dispose()
    console.print(f"{tag}: {left:~P} left ({status})", highlight=False)


@rm_life_app.command("dispose")
def rm_dispose(
    tag: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why it is disposed of.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    on: Annotated[str | None, typer.Option(help="Date (default today).")] = None,
) -> None:
    """Record the disposal of a reference material."""
    day = _day(on, "--on")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as s:
            dispose_material(s, actor, tag, day, reason)
    finally:
        db.dispose()
    console.print(f"{tag} disposed of on {day}", highlight=False)
