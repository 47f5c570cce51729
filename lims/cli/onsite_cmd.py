"""``lims site …`` (sites, visits, portable standards out and in, runs on site) and
``lims sync …`` (a laptop's on-site runs into the lab's database)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lims.cli.common import CliError, PasswordOpt, UserOpt, console, parse_date, session_user
from lims.db import Database
from lims.services import onsite, sync

site_app = typer.Typer(
    help="On-site work / 现场: sites, visits, portable standards.", no_args_is_help=True
)
sync_app = typer.Typer(
    help="Synchronize on-site runs from a laptop / 现场数据同步.", no_args_is_help=True
)


@site_app.command("add")
def site_add(
    customer: Annotated[str, typer.Option(help="Customer name as registered.")],
    plant: Annotated[str, typer.Option(help="Plant / 厂区, e.g. the power station.")],
    point: Annotated[str, typer.Option(help="Measuring point / 测点, e.g. 'stack 1, port A'.")],
    user: UserOpt,
    address: Annotated[str, typer.Option(help="Address of the plant.")] = "",
    password_file: PasswordOpt = None,
) -> None:
    """Register a customer's plant and measuring point."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"site registered: {plant} — {point}") as s:
            site = onsite.add_site(s, actor, customer, plant, point, address)
            site_id = site.id
    finally:
        db.dispose()
    console.print(f"site {site_id}: {plant} — {point}", highlight=False)


@site_app.command("visit")
def site_visit(
    site_id: Annotated[int, typer.Argument(help="The site.")],
    start: Annotated[str, typer.Option("--from", help="First day YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day YYYY-MM-DD.")],
    user: UserOpt,
    work_order: Annotated[str | None, typer.Option(help="Work-order number.")] = None,
    password_file: PasswordOpt = None,
) -> None:
    """Plan a visit to a site."""
    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"visit to site {site_id} planned") as s:
            visit = onsite.plan_visit(s, actor, site_id, first, last, work_order)
            visit_id, uid = visit.id, visit.uid
    finally:
        db.dispose()
    console.print(f"visit {visit_id} ({uid}): {first} … {last}", highlight=False)


@site_app.command("checkout")
def site_checkout(
    visit_id: Annotated[int, typer.Argument(help="The visit.")],
    user: UserOpt,
    standard: Annotated[str | None, typer.Option(help="Standard tag.")] = None,
    material: Annotated[str | None, typer.Option(help="Reference-material tag.")] = None,
    equipment: Annotated[
        str | None, typer.Option(help="Asset tag of other equipment (environment monitor).")
    ] = None,
    password_file: PasswordOpt = None,
) -> None:
    """Check a portable standard, item of equipment or reference material out for a visit
    (validity checked)."""
    given = [
        (k, t)
        for k, t in (
            ("standard", standard),
            ("reference_material", material),
            ("equipment", equipment),
        )
        if t is not None
    ]
    if len(given) != 1:
        raise CliError("give exactly one of --standard and --material (or of --equipment)")
    kind, tag = given[0]
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"{tag} checked out for visit {visit_id}") as s:
            co = onsite.check_out(s, actor, visit_id, kind, tag)
            until = co.valid_until
    finally:
        db.dispose()
    console.print(f"checked out {tag} for visit {visit_id} (valid until {until})", highlight=False)


@site_app.command("checkin")
def site_checkin(
    visit_id: Annotated[int, typer.Argument(help="The visit.")],
    tag: Annotated[str, typer.Argument(help="Standard or reference-material tag.")],
    user: UserOpt,
    condition: Annotated[str, typer.Option(help="Condition on return.")] = "",
    password_file: PasswordOpt = None,
) -> None:
    """Check a standard or reference material back in."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"{tag} checked in from visit {visit_id}") as s:
            onsite.check_in(s, actor, visit_id, tag, condition)
    finally:
        db.dispose()
    console.print(f"checked in {tag} (visit {visit_id})", highlight=False)


@site_app.command("mark-run")
def site_mark_run(
    run_id: Annotated[int, typer.Argument(help="The run.")],
    visit: Annotated[int, typer.Option(help="The visit during which it was done.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Mark a run as done on site during a visit."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"run {run_id} done on site (visit {visit})") as s:
            onsite.mark_run_on_site(s, actor, run_id, visit)
    finally:
        db.dispose()
    console.print(f"run {run_id} marked on site (visit {visit})", highlight=False)


@site_app.command("show")
def site_show(
    visit_id: Annotated[int, typer.Argument(help="The visit.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """A visit: site, check-outs and check-ins, runs done on site."""
    db, _actor = session_user(user, password_file)
    try:
        with db.read() as s:
            v = onsite.visit_summary(s, visit_id)
            console.print(
                f"visit {v.visit.id} ({v.visit.uid}) {v.visit.starts_on} … {v.visit.ends_on}",
                highlight=False,
            )
            for label, value in v.location.items():
                console.print(f"  {label}: {value}", highlight=False)
            for c in v.checkouts:
                back = f"in {c.checked_in_at:%Y-%m-%d %H:%M}" if c.checked_in_at else "OUT"
                console.print(
                    f"  {c.kind:<18} {c.tag:<16} valid until {c.valid_until}  "
                    f"out {c.checked_out_at:%Y-%m-%d %H:%M}  {back}",
                    highlight=False,
                )
            console.print(
                f"  runs on site: {', '.join(map(str, v.runs)) or 'none'}", highlight=False
            )
    finally:
        db.dispose()


def _laptop(url: str) -> Database:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CliError(f"--from: {url!r} is not a database URL") from exc
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or not Path(path).is_file():
            raise CliError(f"--from: no laptop database at {path or url!r}")
    return Database(parsed)


@sync_app.command("push")
def sync_push(
    source: Annotated[str, typer.Option("--from", help="The laptop's database URL.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Import the runs recorded on a laptop (verified; conflicts reported, never overwritten)."""
    laptop = _laptop(source)
    try:
        db, actor = session_user(user, password_file)
        try:
            report = sync.push(db, laptop, actor)
        finally:
            db.dispose()
    finally:
        laptop.dispose()
    if not report.changed:
        console.print(
            "nothing to synchronize: the lab holds everything of this laptop", highlight=False
        )
        return
    for src_id, lab_id, uid in report.runs:
        console.print(f"laptop run {src_id} → lab run {lab_id} (uid {uid})", highlight=False)
    console.print(
        f"synchronized {len(report.runs)} run(s), {report.readings} reading(s), "
        f"{report.events} audit event(s) from {report.source_uid}",
        highlight=False,
    )


@sync_app.command("verify")
def sync_verify(user: UserOpt, password_file: PasswordOpt = None) -> None:
    """Check every imported run against the chain recorded where it was done."""
    db, _actor = session_user(user, password_file)
    try:
        with db.read() as s:
            problems = sync.verify_origins(s)
    finally:
        db.dispose()
    if problems:
        for p in problems:
            console.print(f"[red]{p}[/red]", highlight=False)
        raise typer.Exit(1)
    console.print("imported runs intact", highlight=False)
