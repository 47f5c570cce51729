"""Entry point of the ``lims`` command line.

The root imports no command: each command's module is imported when that command runs
(or its own ``--help`` is asked for), so ``lims --version`` and ``lims --help`` start
without SQLAlchemy, pint or Qt, and a command pays only for what it uses. The root's
listing is :data:`COMMANDS` (name, module, one-line help); ``tests/lims/test_cli.py``
checks that each line matches its command's own help.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click as click  # typer ships its own click
from typer.core import TyperCommand, TyperGroup

import lims
from lims.cli import start_up

__all__ = ["COMMANDS", "UNEXPECTED_EXIT", "app", "main"]


@dataclass(frozen=True)
class LazyCommand:
    """A command of the root: where it lives and its one-line help for the listing."""

    name: str
    module: str
    #: A Typer app (a group of commands) or, with ``command``, one command of that app.
    attribute: str
    help: str
    command: str | None = None
    #: Other apps whose commands join this group (``lims rm``, ``lims pt``).
    extra: tuple[tuple[str, str], ...] = ()


COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "init",
        "lims.cli.lab_cmd",
        "app",
        "Create or upgrade the database, the lab profile, a first administrator and the lab CA.",
        command="init",
    ),
    LazyCommand(
        "demo",
        "lims.cli.lab_cmd",
        "app",
        "Create a fresh demo lab on an embedded SQLite database.",
        command="demo",
    ),
    LazyCommand(
        "login",
        "lims.cli.login_cmd",
        "app",
        "Log in once: your next commands run without the password until the session ends.",
        command="login",
    ),
    LazyCommand(
        "logout",
        "lims.cli.login_cmd",
        "app",
        "End your command-line session: the next commands ask for the password again.",
        command="logout",
    ),
    LazyCommand("db", "lims.cli.db_cmd", "app", "Database schema: upgrade and show the revision."),
    LazyCommand(
        "audit", "lims.cli.audit_cmd", "app", "The audit trail: verify, anchor and review it."
    ),
    LazyCommand(
        "certificate",
        "lims.cli.certificate_cmd",
        "app",
        "Certificates: draft, sign (performed → reviewed → approved), export, amend, verify.",
    ),
    LazyCommand(
        "keys",
        "lims.cli.keys_cmd",
        "app",
        "Signing keys: the lab CA, its time-stamping authority and CRL, and each signer's key "
        "and certificate (PKCS#12).",
    ),
    LazyCommand(
        "rm",
        "lims.cli.rm_cmd",
        "app",
        "Reference materials: receive and list.",
        extra=(("lims.cli.quality_cmd", "rm_life_app"),),
    ),
    LazyCommand(
        "standards",
        "lims.cli.standards_cmd",
        "app",
        "Measurement standards / 计量标准: due lists, checks, status, certificates.",
    ),
    LazyCommand("trace", "lims.cli.trace_cmd", "app", "Traceability / 溯源: what used a standard."),
    LazyCommand(
        "scope",
        "lims.cli.scope_cmd",
        "app",
        "Accreditation scope / 认可范围 (CMC, ILAC P14): import, show, release, check.",
    ),
    LazyCommand(
        "intervals",
        "lims.cli.intervals_cmd",
        "app",
        "Calibration intervals / 校准间隔: drift analysis and accepted due dates.",
    ),
    LazyCommand(
        "override",
        "lims.cli.override_cmd",
        "app",
        "Rule overrides / 豁免 (quality manager, with password and reason).",
    ),
    LazyCommand(
        "backup",
        "lims.cli.backup_cmd",
        "backup_app",
        "Write a consistent backup of the database and archived files.",
    ),
    LazyCommand(
        "restore",
        "lims.cli.backup_cmd",
        "restore_app",
        "Restore a backup into an EMPTY database and verify it.",
    ),
    LazyCommand(
        "sim", "lims.cli.sim_cmd", "app", "The simulated bench: serve a bench file's instruments."
    ),
    LazyCommand(
        "site",
        "lims.cli.onsite_cmd",
        "site_app",
        "On-site work / 现场: sites, visits, portable standards.",
    ),
    LazyCommand(
        "sync",
        "lims.cli.onsite_cmd",
        "sync_app",
        "Synchronize on-site runs from a laptop / 现场数据同步.",
    ),
    LazyCommand(
        "gui",
        "lims.cli.gui_cmd",
        "app",
        "Start the desktop application on the configured database (图形界面).",
        command="gui",
    ),
    LazyCommand(
        "run",
        "lims.cli.run_cmd",
        "app",
        "Run PROCEDURE headless on a bench for a work-order ITEM, resume a run, or show one.",
        command="run",
    ),
    LazyCommand(
        "work-order",
        "lims.cli.work_order_cmd",
        "app",
        "Work orders / 委托单: the board of open work, deliver, cancel.",
    ),
    LazyCommand(
        "users",
        "lims.cli.quality_cmd",
        "users_app",
        "Accounts: add, authorize, deactivate, locked accounts, unlock, password change.",
    ),
    LazyCommand(
        "incident",
        "lims.cli.quality_cmd",
        "incident_app",
        "Incident log / 故障与纠正措施 (ISO/IEC 17025 7.11.3).",
    ),
    LazyCommand(
        "pt",
        "lims.cli.quality_cmd",
        "pt_app",
        "Proficiency tests and inter-comparisons / 能力验证与比对 (En).",
        extra=(("lims.cli.pt_cmd", "app"),),
    ),
    LazyCommand(
        "portal",
        "lims.cli.portal_cmd",
        "portal_app",
        "The verification and customer portal (web).",
    ),
    LazyCommand(
        "customers",
        "lims.cli.portal_cmd",
        "customers_app",
        "Customers: their portal accounts and API tokens (administrator).",
    ),
    LazyCommand("config", "lims.cli.config_cmd", "config_app", "Show the effective settings."),
    LazyCommand(
        "units",
        "lims.cli.config_cmd",
        "units_app",
        "Check how a quantity or unit is understood.",
    ),
)
_BY_NAME = {c.name: c for c in COMMANDS}
_LOADED: dict[str, click.Command] = {}


def load_command(name: str) -> click.Command:
    """Import the command ``name`` of the root (once per process) and return it."""
    if name in _LOADED:
        return _LOADED[name]
    spec = _BY_NAME[name]
    typer_app = getattr(importlib.import_module(spec.module), spec.attribute)
    for module, attribute in spec.extra:
        other = getattr(importlib.import_module(module), attribute)
        for registered in other.registered_commands:
            if registered not in typer_app.registered_commands:
                typer_app.registered_commands.append(registered)
    start_up.end()
    group = typer.main.get_group(typer_app)  # a group even when it holds one command
    command: click.Command = group if spec.command is None else group.commands[spec.command]
    command.name = name
    if isinstance(command, TyperGroup) and not command.help:
        command.help = spec.help
    _LOADED[name] = command
    return command


class LazyGroup(TyperGroup):
    """The root group: commands are imported on first use; the listing is static."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command of the root, in the order of :data:`COMMANDS`."""
        return [*(c.name for c in COMMANDS), *(n for n in self.commands if n not in _BY_NAME)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command (imported now), or a stand-in carrying its help for the listing."""
        spec = _BY_NAME.get(cmd_name)
        if spec is None:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            return TyperCommand(spec.name, help=spec.help, short_help=spec.help)
        return load_command(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve the command to run; its diagnostics go to the log from here on."""
        _configure_logging()
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The root's help, listing the commands without importing them."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="lims",
    cls=LazyGroup,
    help="碳计量校准实验室信息管理系统 · Calibration LIMS for carbon-metrology laboratories.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # the root's help in click's plain format: rich's help renderer alone costs ~0.3 s
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lims {lims.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """碳计量校准实验室信息管理系统 · Calibration LIMS for carbon-metrology laboratories."""


#: Exit status of a failure the program did not expect (sysexits' EX_SOFTWARE).
UNEXPECTED_EXIT = 70
log = logging.getLogger("lims.cli")
_log_file: list[Path] = []


def _log_target() -> tuple[Path, str]:
    from lims.config import default_data_dir, load_settings

    try:
        s = load_settings()
        return s.log_file, s.log_level
    except Exception:  # settings that cannot be read are reported by the command itself
        return default_data_dir() / "logs" / "lims.log", "INFO"


def _configure_logging() -> Path:
    """Send diagnostics to the log file of the settings in force (again when they changed,
    as between two commands run in one process)."""
    log_file, level = _log_target()
    if _log_file != [log_file]:
        from lims.cli.errors import configure_logging

        configure_logging(log_file, level)
        _log_file[:] = [log_file]
    return log_file


def _command_path(argv: list[str]) -> str:
    """``lims users add`` from the arguments: the command words, no values."""
    words = ["lims"]
    command: click.Command = typer.main.get_command(app)
    ctx = click.Context(command)
    for token in argv:
        get: Callable[..., Any] | None = getattr(command, "get_command", None)
        sub = get(ctx, token) if get is not None and not token.startswith("-") else None
        if sub is None:
            break
        words.append(token)
        command = sub
    return " ".join(words)


def _expected(exc: BaseException) -> bool:
    """Whether ``exc`` is bad input or the lab's state (reported in one line)."""
    from lims.cli.common import CliError, user_errors

    if isinstance(exc, (CliError, *user_errors())):
        return True
    operational = getattr(sys.modules.get("sqlalchemy.exc"), "OperationalError", None)
    return operational is not None and isinstance(exc, operational)


def main() -> None:
    """Run the command line behind one error boundary.

    Expected errors (bad input, refusals, an unreachable database) print one line and
    exit non-zero. Anything else prints one line saying what failed and where the log
    is, and logs the traceback there (no SQL parameters, no secrets), exit 70. A usage
    error (unknown option, missing argument) is one line too, exit 2.
    """
    argv = sys.argv[1:]
    start_up.begin()  # until the command's modules are loaded (lims.cli.start_up)
    try:
        code = app(args=argv, prog_name="lims", standalone_mode=False)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:  # a usage error of the command line
        formatter = getattr(exc, "format_message", None)
        message = formatter() if callable(formatter) else str(exc)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        typer.echo(f"error: {message}{hint}", err=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if _expected(exc):
            from lims.cli.common import report_error

            sys.exit(report_error(exc))
        log_file = _configure_logging()
        where = _command_path(argv)
        log.error("%s failed unexpectedly", where, exc_info=exc)
        from lims.cli.common import err_console

        err_console.print(
            f"[red]error:[/red] {where} failed unexpectedly ({type(exc).__name__}); "
            f"nothing more was done; the details are in {log_file}",
            highlight=False,
        )
        sys.exit(UNEXPECTED_EXIT)
    finally:
        start_up.end()
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
