"""The ``lims`` command line: init, db, demo, version, help, and one-line refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select
from typer import _click as click
from typer.core import TyperGroup
from typer.testing import CliRunner

import lims
from lims.db import Database
from lims.db.migrate import head_revision
from lims.models import AuditEvent, ReferenceMaterial
from lims.services.demo import DEMO_USERS
from tests.lims._cli import clean_env, one_error_line, run_main, run_script

Run = tuple[pytest.MonkeyPatch, pytest.CaptureFixture[str]]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    return monkeypatch, capsys


def test_init_demo_then_db_current_at_head_sqlite(tmp_path: Path, cli: Run) -> None:
    env = clean_env(tmp_path / "data")
    r = run_main(["init", "--demo"], env, *cli)
    assert r.code == 0, r.err
    assert (tmp_path / "data" / "lims.sqlite3").is_file()
    r = run_main(["db", "current"], env, *cli)
    assert r.code == 0, r.err
    assert r.out.strip() == f"{head_revision()} (head)"


def test_init_demo_then_db_current_at_head_postgresql(
    tmp_path: Path, pg_url: str, cli: Run
) -> None:
    env = clean_env(tmp_path, LIMS_DATABASE_URL=pg_url)
    r = run_main(["init", "--demo"], env, *cli)
    assert r.code == 0, r.err
    r = run_main(["db", "current"], env, *cli)
    assert r.out.strip() == f"{head_revision()} (head)"
    r = run_main(["audit", "verify"], env, *cli)
    assert r.code == 0
    assert "audit trail intact" in r.out


def test_demo_prints_its_summary(tmp_path: Path, cli: Run) -> None:
    target = tmp_path / "demo"
    r = run_main(["demo", "--data-dir", str(target), "--no-runs"], clean_env(tmp_path), *cli)
    assert r.code == 0, r.err
    assert "示范碳计量中心" in r.out
    counts = {}
    for line in r.out.splitlines():
        parts = line.rsplit(None, 1)
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0].strip()] = int(parts[1])
    assert counts["users"] == len(DEMO_USERS) + 1
    assert counts["customers"] == 4
    assert counts["reference materials"] == 20  # gases, CRMs, the fuel lab's, the on-site cylinders
    assert counts["measurement standards"] == 7
    for u in DEMO_USERS:
        assert u.username in r.out
    db = Database(f"sqlite:///{target / 'lims.sqlite3'}")
    try:
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(AuditEvent)) == counts["audit events"]
    finally:
        db.dispose()


def test_version(cli: Run, tmp_path: Path) -> None:
    r = run_main(["--version"], clean_env(tmp_path), *cli)
    assert r.code == 0
    assert r.out.strip() == f"lims {lims.__version__}"


def _command_paths(cmd: click.Command, prefix: list[str]) -> list[list[str]]:
    paths = [prefix]
    if isinstance(cmd, TyperGroup):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, name
            paths += _command_paths(sub, [*prefix, name])
    return paths


def _last_line_printed_by(code: str) -> tuple[str, str]:
    """Run ``code`` in a fresh interpreter: (the last line it printed, all it printed)."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout.strip().splitlines()[-1], out.stdout


def test_cli_root_imports_no_heavy_library() -> None:
    # structural, not timed: what ``lims --version`` and ``lims --help`` have to import
    code = (
        "import sys\n"
        "sys.argv = ['lims', '--help']\n"
        "import lims.cli.main as m\n"
        "try:\n"
        "    m.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('sqlalchemy', 'pint', 'PySide6', 'GTC', 'numpy', 'pyhanko', 'rich')\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & set(heavy)))\n"
    )
    last, out = _last_line_printed_by(code)
    assert last == "[]", out


#: What a simple list query must not import: units, numerics, PDF, PKI, GUI, XML, migrations.
_NOT_FOR_A_LIST = (
    "pint",
    "numpy",
    "scipy",
    "reportlab",
    "pyhanko",
    "PySide6",
    "GTC",
    "lxml",
    "xmlschema",
    "cryptography",
    "alembic",
)


def _demo_lab(tmp_path: Path, cli: Run, username: str) -> tuple[Path, dict[str, str], Path]:
    """A demo lab made by ``lims init --demo``: (data dir, environment, password file of
    ``username``)."""
    data = tmp_path / "data"
    env = clean_env(data)
    assert run_main(["init", "--demo"], env, *cli).code == 0
    pwfile = tmp_path / "pw"
    pwfile.write_text(next(u.password for u in DEMO_USERS if u.username == username) + "\n")
    return data, env, pwfile


def test_list_queries_import_no_heavy_library(tmp_path: Path, cli: Run) -> None:
    # structural, not timed: `lims certificate list` and `lims work-order list` log in
    # (argon2, audited) and query, and need none of the libraries above to do it
    _data, env, pwfile = _demo_lab(tmp_path, cli, "zhang")
    login = ["--user", "zhang", "--password-file", str(pwfile)]
    code = (
        "import sys\n"
        "import lims.cli.main as m\n"
        "codes = []\n"
        f"for argv in ({['certificate', 'list', *login]!r}, {['work-order', 'list', *login]!r}):\n"
        "    sys.argv = ['lims', *argv]\n"
        "    try:\n"
        "        m.main()\n"
        "    except SystemExit as exc:\n"
        "        codes.append(exc.code)\n"
        f"heavy = {_NOT_FOR_A_LIST!r}\n"
        "print(codes, sorted({k.split('.')[0] for k in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[0, 0] []", (out.stdout, out.stderr)


def test_commands_run_with_the_cycle_collector_on() -> None:
    # main() leaves the cycle collector off while a command's modules load; the command
    # itself (a run, the portal, the desktop) must run with it on, and so must whatever
    # follows main() in the process
    code = (
        "import gc, sys\n"
        "import lims.cli.main as m\n"
        "seen = []\n"
        "real = m.load_command\n"
        "def spy(name):\n"
        "    seen.append(gc.isenabled())\n"
        "    command = real(name)\n"
        "    seen.append(gc.isenabled())\n"
        "    return command\n"
        "m.load_command = spy\n"
        "for argv in (['units', 'check', '1 m'], ['--help']):\n"
        "    sys.argv = ['lims', *argv]\n"
        "    try:\n"
        "        m.main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    seen.append(gc.isenabled())\n"
        "print(seen)\n"
    )
    last, out = _last_line_printed_by(code)
    assert last == "[False, True, True, True]", out


def test_long_lived_imports_only_in_a_commands_process() -> None:
    # the desktop application's imports (Qt) load without the collector in `lims gui`; in
    # any other process (a test calling open_gui) nothing is frozen
    code = (
        "import gc\n"
        "from lims.cli import start_up\n"
        "seen = []\n"
        "with start_up.long_lived_imports():\n"
        "    seen.append(gc.isenabled())\n"
        "seen.append(gc.get_freeze_count() == 0)\n"
        "start_up.begin()\n"
        "start_up.end()\n"
        "with start_up.long_lived_imports():\n"
        "    seen.append(gc.isenabled())\n"
        "    import json\n"
        "seen.append(gc.isenabled() and gc.get_freeze_count() > 0)\n"
        "print(seen)\n"
    )
    last, out = _last_line_printed_by(code)
    assert last == "[True, True, False, True]", out


def test_root_listing_matches_each_commands_own_help() -> None:
    from lims.cli.main import COMMANDS, load_command

    for spec in COMMANDS:
        command = load_command(spec.name)
        own = (command.help or "").strip().splitlines()[0]
        assert own == spec.help, spec.name


def test_help_on_every_command() -> None:
    from lims.cli.main import app

    root = typer.main.get_command(app)
    paths = _command_paths(root, [])
    names = {" ".join(p) for p in paths}
    expected = {
        "",
        "init",
        "demo",
        "db",
        "db upgrade",
        "db current",
        "config",
        "config show",
        "audit",
        "audit verify",
        "units",
        "units check",
        "rm",
        "rm receive",
        "rm list",
    }
    assert expected <= names
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        assert "--help" in result.output


def test_unknown_unit_one_line_via_console_script(tmp_path: Path) -> None:
    r = run_script(["units", "check", "5 kilofoo"], clean_env(tmp_path))
    assert "unknown unit 'kilofoo'" in one_error_line(r)
    assert not any(tmp_path.iterdir())


def _rm_args(pwfile: Path, **over: str) -> list[str]:
    opts = {
        "--tag": "RM-CO2-9999",
        "--gbw": "GBW(E)062140",
        "--name": "氮中二氧化碳 CO2 in N2",
        "--component": "CO2",
        "--certified": "400 umol/mol",
        "--uncertainty": "4 umol/mol",
        "--expires": "2030-01-01",
        "--user": "chen",
        "--remaining": "9 MPa",
        "--password-file": str(pwfile),
    }
    opts.update(over)
    return ["rm", "receive", *[x for kv in opts.items() for x in kv]]


def test_rm_receive_refuses_bad_units_and_writes_nothing(tmp_path: Path, cli: Run) -> None:
    data, env, pwfile = _demo_lab(tmp_path, cli, "chen")
    db = Database(f"sqlite:///{data / 'lims.sqlite3'}")

    def counts() -> tuple[int, int]:
        with db.read() as s:
            return (
                int(s.scalar(select(func.count()).select_from(ReferenceMaterial)) or 0),
                int(s.scalar(select(func.count()).select_from(AuditEvent)) or 0),
            )

    try:
        before = counts()
        r = run_main(_rm_args(pwfile, **{"--remaining": "5 kWh"}), env, *cli)
        line = one_error_line(r)
        assert "--remaining" in line
        assert "wrong dimension" in line
        r = run_main(_rm_args(pwfile, **{"--certified": "5 kilofoo"}), env, *cli)
        assert "unknown unit 'kilofoo'" in one_error_line(r)
        r = run_main(_rm_args(pwfile, **{"--uncertainty": "4 kWh"}), env, *cli)
        assert "wrong dimension" in one_error_line(r)
        assert counts() == before
        # The same command with good values is accepted and audited.
        r = run_main(_rm_args(pwfile), env, *cli)
        assert r.code == 0, r.err
        after = counts()
        assert after[0] == before[0] + 1
        assert after[1] > before[1]
    finally:
        db.dispose()
