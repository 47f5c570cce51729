"""``lims init`` and ``lims demo``: create a lab (or the demo lab) and its first anchor."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from lims.audit_anchors import write_anchor
from lims.cli.common import CliError, console, err_console, read_password, settings
from lims.config import load_settings, sqlite_url_for
from lims.lab_time import DEFAULT_TIME_ZONE, TimeZoneError, zone
from lims.services.demo import DEMO_ADMIN, DEMO_LAB, DEMO_USERS, seed_demo
from lims.services.lab import LabIdentity, initialize, lab_summary, open_database, policy_from
from lims.services.public_verification import portal_hint

app = typer.Typer()  # ``init`` and ``demo`` are commands of the root


@app.command("init")
def init(
    demo: Annotated[
        bool, typer.Option(help="Seed the demo lab (users, instruments, ...).")
    ] = False,
    lab_name_zh: Annotated[str, typer.Option(help="实验室名称 Lab name in Chinese.")] = "",
    lab_name_en: Annotated[str, typer.Option(help="Lab name in English.")] = "",
    admin: Annotated[str, typer.Option(help="User name of the first administrator.")] = "admin",
    admin_name: Annotated[str, typer.Option(help="Printed name of the administrator.")] = "",
    password_file: Annotated[
        Path | None, typer.Option(help="File whose first line is the admin password.")
    ] = None,
    ca_password_file: Annotated[
        Path | None,
        typer.Option(help="File whose first line is the passphrase of the lab's new CA."),
    ] = None,
    city: Annotated[str, typer.Option(help="城市 City, printed on certificates.")] = "",
    address_zh: Annotated[str, typer.Option(help="地址 Address in Chinese.")] = "",
    address_en: Annotated[str, typer.Option(help="Address in English.")] = "",
    accreditation: Annotated[str, typer.Option(help="CNAS accreditation number.")] = "",
    email: Annotated[str, typer.Option(help="Lab e-mail, printed on certificates.")] = "",
    phone: Annotated[str, typer.Option(help="Lab phone, printed on certificates.")] = "",
    prefix: Annotated[str, typer.Option(help="Certificate-number prefix.")] = "CM",
    time_zone: Annotated[
        str,
        typer.Option(help="IANA time zone of the dates on certificates (issue, validity)."),
    ] = DEFAULT_TIME_ZONE,
) -> None:
    """Create or upgrade the database, the lab profile, a first administrator and the lab CA.

    The CA signs every signer's key; its passphrase is asked for (or read from
    --ca-password-file) and never stored.
    """
    s = settings()
    db = open_database(s)
    try:
        ca_password: str | None = None
        if demo:
            lab, (username, full_name, password) = DEMO_LAB, DEMO_ADMIN
        else:
            missing = [
                option
                for option, value in (
                    ("--lab-name-zh", lab_name_zh),
                    ("--lab-name-en", lab_name_en),
                    ("--city", city),
                    ("--accreditation", accreditation),
                )
                if not value.strip()
            ]
            if missing:
                raise CliError(f"{', '.join(missing)} required (or use --demo)")
            lab = LabIdentity(
                name_zh=lab_name_zh,
                name_en=lab_name_en,
                address_zh=address_zh,
                address_en=address_en,
                accreditation_number=accreditation,
                certificate_prefix=prefix,
                city=city,
                email=email,
                phone=phone,
                time_zone=time_zone,
            )
            try:
                zone(time_zone)
            except TimeZoneError as exc:
                raise CliError(f"--time-zone: {exc}") from exc
            username, full_name = admin, admin_name or admin
            password = read_password(password_file, "Administrator password / 管理员密码: ")
            ca_password = read_password(ca_password_file, "Lab CA passphrase / CA 口令: ")
        created = initialize(db, s, lab, username, full_name, password, ca_password=ca_password)
        if created and demo:
            with db.write(actor="system:demo", reason="demo lab seed") as session:
                seed_demo(session, policy_from(s), date.today())
        # the lab's first anchor outside the database: from now on the trail is confirmed
        anchor = write_anchor(db, s.anchor_file, s.anchor_copies)
        console.print(
            f"{'created' if created else 'upgraded'}: {s.redacted_url()}", highlight=False
        )
        if anchor is not None:
            console.print(
                f"audit trail anchored at event {anchor.event_id} in {s.anchor_file}",
                highlight=False,
            )
    finally:
        db.dispose()


@app.command("demo")
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the demo lives (default: <user data dir>/demo). Recreated."),
    ] = None,
    no_runs: Annotated[
        bool,
        typer.Option("--no-runs", help="Only seed the demo lab; run no procedure."),
    ] = False,
    benches: Annotated[
        Path | None,
        typer.Option(help="Folder of the simulated bench files (default: examples/benches)."),
    ] = None,
    headless: Annotated[
        bool,
        typer.Option("--headless", help="Run the headless demo even when a display is present."),
    ] = False,
) -> None:
    """Create a fresh demo lab on an embedded SQLite database.

    With a display, open the desktop application on it (its bench view runs the
    simulated benches). Without one (or with --headless), run every procedure of
    its work orders on the simulated benches, issue signed certificates, and show
    what the lab holds.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lims.cli.gui_cmd import display_available, open_gui
    from lims.cli.run_cmd import RichWatcher
    from lims.models import RunStatus
    from lims.services.demo_certificates import IssuedCertificate, issue_demo_certificate
    from lims.services.demo_runs import (
        EXAMPLE_BENCHES,
        DemoRunPlan,
        DemoRunSummary,
        check_benches,
        run_demo_procedures,
        summary_table,
    )

    bench_dir = benches or EXAMPLE_BENCHES
    interactive = not headless and display_available()
    if interactive:
        no_runs = True
    if not no_runs:
        check_benches(bench_dir)
    base = load_settings()
    target = data_dir or (base.data_dir / "demo")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    s = load_settings({"LIMS_DATA_DIR": str(target), "LIMS_DATABASE_URL": sqlite_url_for(target)})
    db = open_database(s)
    try:
        initialize(db, s, DEMO_LAB, *DEMO_ADMIN)
        with db.write(actor="system:demo", reason="demo lab seed") as session:
            seed_demo(session, policy_from(s), date.today())
        write_anchor(db, s.anchor_file, s.anchor_copies)
        console.rule(f"{DEMO_LAB.name_zh} · {DEMO_LAB.name_en}")
        console.print(f"data directory: {target}", highlight=False)
        console.print(f"database:       {s.redacted_url()}", highlight=False)
        summaries: list[DemoRunSummary] = []
        if not no_runs:
            progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
            )
            issued: list[IssuedCertificate] = []

            overall = progress.add_task("示范运行 Demo runs", total=None)

            def certify(summary: DemoRunSummary) -> None:
                progress.advance(overall)
                if summary.status is RunStatus.COMPLETED:
                    issued.append(issue_demo_certificate(db, s, summary.run_id))

            def watcher_for(plan: DemoRunPlan) -> RichWatcher:
                return RichWatcher(
                    auto=None,
                    stream=None,
                    interactive=False,
                    show_progress=True,
                    progress=progress,
                    label=f"{plan.procedure_id} (item {plan.item_id})",
                )

            with progress:
                summaries = run_demo_procedures(
                    db, s, benches=bench_dir, watcher_for=watcher_for, after_run=certify
                )
            # to a file or pipe rich assumes 80 columns: give the table room to stay readable
            # rich caps width= at the console's width (80 for a file or pipe): a wide console
            out = console if console.is_terminal else Console(width=max(console.width, 160))
            out.print(summary_table(summaries))
            console.print("issued certificates (signed: zhang → li → wang):")
            for c in issued:
                console.print(f"  {c.number}  {c.type:<27} run {c.run_id}", highlight=False)
                console.print(f"    PDF {c.pdf}", highlight=False)
                console.print(f"    DCC {c.dcc}", highlight=False)
        for label, count in lab_summary(db).items():
            console.print(f"  {label:<24}{count:>6}")
        console.print("demo accounts (demo passwords, never for real use):")
        console.print(f"  {DEMO_ADMIN[0]:<8} administrator      {DEMO_ADMIN[2]}", highlight=False)
        for u in DEMO_USERS:
            roles = ", ".join(r.value for r in u.roles)
            console.print(f"  {u.username:<8} {roles:<18} {u.password}", highlight=False)
        console.print(
            f"use it with: LIMS_DATA_DIR={target} lims …  (e.g. lims audit verify)",
            highlight=False,
        )
        hint = portal_hint(db, target)
        console.print(f"verification portal / 验证门户: {hint.command}", highlight=False)
        if hint.verification_address is not None:
            console.print(
                f"  a certificate's QR address / 证书二维码地址: {hint.verification_address}",
                highlight=False,
            )
    finally:
        db.dispose()
    if interactive:
        console.print("opening the desktop application on the demo lab / 打开图形界面")
        raise typer.Exit(open_gui(s))
    unfinished = [x for x in summaries if x.status != RunStatus.COMPLETED]
    if unfinished:
        names = ", ".join(f"{x.procedure_id} (run {x.run_id} {x.status.value})" for x in unfinished)
        raise CliError(f"demo: {len(unfinished)} run(s) did not complete: {names}", exit_code=1)
