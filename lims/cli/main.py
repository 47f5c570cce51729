"""Entry point of the ``lims`` command line."""

from __future__ import annotations

import logging
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

import lims
from lims.audit_anchors import write_anchor
from lims.cli import (
    audit_cmd,
    backup_cmd,
    certificate_cmd,
    db_cmd,
    gui_cmd,
    intervals_cmd,
    keys_cmd,
    onsite_cmd,
    override_cmd,
    portal_cmd,
    pt_cmd,
    quality_cmd,
    rm_cmd,
    run_cmd,
    scope_cmd,
    sim_cmd,
    standards_cmd,
    trace_cmd,
)
from lims.cli.common import (
    USER_ERRORS,
    CliError,
    console,
    err_console,
    read_password,
    report_error,
    settings,
)
from lims.cli.errors import configure_logging
from lims.config import default_data_dir, load_settings, sqlite_url_for
from lims.lab_time import DEFAULT_TIME_ZONE, TimeZoneError, zone
from lims.services.demo import DEMO_ADMIN, DEMO_LAB, DEMO_USERS, seed_demo
from lims.services.lab import LabIdentity, initialize, lab_summary, open_database, policy_from
from lims.services.public_verification import portal_hint

app = typer.Typer(
    name="lims",
    help="碳计量校准实验室信息管理系统 · Calibration LIMS for carbon-metrology laboratories.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(certificate_cmd.app, name="certificate")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(rm_cmd.app, name="rm")
app.add_typer(standards_cmd.app, name="standards")
app.add_typer(trace_cmd.app, name="trace")
app.add_typer(scope_cmd.app, name="scope")
app.add_typer(intervals_cmd.app, name="intervals")
app.add_typer(override_cmd.app, name="override")
app.add_typer(backup_cmd.backup_app, name="backup")
app.add_typer(backup_cmd.restore_app, name="restore")
app.add_typer(sim_cmd.app, name="sim")
app.add_typer(onsite_cmd.site_app, name="site")
app.add_typer(onsite_cmd.sync_app, name="sync")
app.command("gui")(gui_cmd.gui)
app.command("run", help=run_cmd.HELP)(run_cmd.run_command)
app.add_typer(quality_cmd.users_app, name="users")
app.add_typer(quality_cmd.incident_app, name="incident")
app.add_typer(quality_cmd.pt_app, name="pt")
portal_cmd.register(app)
for _command in quality_cmd.rm_life_app.registered_commands:
    rm_cmd.app.registered_commands.append(_command)
for _command in pt_cmd.app.registered_commands:
    quality_cmd.pt_app.registered_commands.append(_command)
config_app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")
units_app = typer.Typer(help="Check how a quantity or unit is understood.", no_args_is_help=True)
app.add_typer(units_app, name="units")


def _version(value: bool) -> None:
    if value:
        console.print(f"lims {lims.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """碳计量校准实验室信息管理系统 · Calibration LIMS for carbon-metrology laboratories."""


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings (passwords hidden) and where each came from."""
    s = settings()
    for key, value in s.as_display().items():
        source = s.sources.get(key, "default" if key != "config_file" else "")
        suffix = f"  [dim]({source})[/dim]" if source else ""
        console.print(f"{key} = {value}{suffix}", highlight=False)


@units_app.command("check", context_settings={"ignore_unknown_options": True})
def units_check(
    text: Annotated[str, typer.Argument(help='A quantity such as "1000 μmol/mol".')],
    like: Annotated[
        str | None, typer.Option(help="The unit the field expects, e.g. umol/mol.")
    ] = None,
) -> None:
    """Parse a quantity as the application would, and print its canonical form."""
    from lims.units import display_quantity, parse_quantity, to_storage

    q = parse_quantity(text, like)
    magnitude, unit = to_storage(q)
    console.print(
        f"{display_quantity(q)}  (stored as {magnitude!r} [{unit}])", highlight=False, markup=False
    )


@app.command()
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


@app.command()
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


_HANDLED: tuple[type[Exception], ...] = (CliError, OperationalError, *USER_ERRORS)
#: Exit status of a failure the program did not expect (sysexits' EX_SOFTWARE).
UNEXPECTED_EXIT = 70
log = logging.getLogger("lims.cli")


def _command_path(argv: list[str]) -> str:
    """``lims users add`` from the arguments: the command words, no values."""
    words = ["lims"]
    command: object = typer.main.get_command(app)
    for token in argv:
        commands = getattr(command, "commands", None)
        if not isinstance(commands, dict) or token not in commands:
            break
        words.append(token)
        command = commands[token]
    return " ".join(words)


def _log_target() -> tuple[Path, str]:
    try:
        s = load_settings()
        return s.log_file, s.log_level
    except Exception:  # settings that cannot be read are reported by the command itself
        return default_data_dir() / "logs" / "lims.log", "INFO"


def main() -> None:
    """Run the command line behind one error boundary.

    Expected errors (bad input, refusals, an unreachable database) print one line and
    exit non-zero. Anything else prints one line saying what failed and where the log
    is, and logs the traceback there (no SQL parameters, no secrets), exit 70. A usage
    error (unknown option, missing argument) is one line too, exit 2.
    """
    log_file, level = _log_target()
    configure_logging(log_file, level)
    argv = sys.argv[1:]
    try:
        code = app(args=argv, prog_name="lims", standalone_mode=False)
    except _HANDLED as exc:
        sys.exit(report_error(exc))
    except typer.Abort:
        err_console.print("[red]error:[/red] aborted", highlight=False)
        sys.exit(130)
    except typer.TyperException as exc:  # a usage error of the command line
        formatter = getattr(exc, "format_message", None)
        message = formatter() if callable(formatter) else str(exc)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        err_console.print(f"[red]error:[/red] {message}{hint}", highlight=False)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except KeyboardInterrupt:
        err_console.print("[red]error:[/red] interrupted", highlight=False)
        sys.exit(130)
    except Exception as exc:
        where = _command_path(argv)
        log.error("%s failed unexpectedly", where, exc_info=exc)
        err_console.print(
            f"[red]error:[/red] {where} failed unexpectedly ({type(exc).__name__}); "
            f"nothing more was done; the details are in {log_file}",
            highlight=False,
        )
        sys.exit(UNEXPECTED_EXIT)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
