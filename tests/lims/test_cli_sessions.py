"""Command-line sessions: ``lims login`` once, then queries without the password.

Each test builds the demo lab (``lims init --demo``) on the ``db`` fixture's database, once
on SQLite and once on PostgreSQL, and runs ``lims`` in this process. Passwords are hashed
at a cheap argon2 cost (same algorithm) to keep the lab quick to build.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

import lims.security
import lims.services.cli_sessions as sessions_service
from lims.cli.sessions import PASSWORD_EVERY_TIME, session_allowed
from lims.config import ConfigError, load_settings
from lims.db import Database
from lims.db.types import utcnow
from lims.models import AuditEvent, CliSession, User
from lims.services.demo import DEMO_ADMIN, DEMO_USERS
from tests.lims._cli import Outcome, clean_env, one_error_line, run_main

ROOT = Path(__file__).resolve().parents[2]
NO_TERMINAL = "no terminal to ask for the password"


@dataclass
class Lab:
    """A demo lab on the ``db`` fixture's database and a way to run ``lims`` on it."""

    db: Database
    data: Path
    env: dict[str, str]
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    passwords: dict[str, Path]

    def run(self, *args: str) -> Outcome:
        """``lims ARGS`` in this process (stdin is not a terminal)."""
        return run_main(list(args), self.env, self.monkeypatch, self.capsys)

    def pw(self, username: str) -> list[str]:
        """``--user U --password-file F`` of a demo user."""
        return ["--user", username, "--password-file", str(self.passwords[username])]

    def token_file(self, username: str) -> Path:
        """Where ``lims login --user username`` keeps its token."""
        return self.data / "sessions" / f"{username}.token"

    def rows(self, username: str) -> list[CliSession]:
        """The user's sessions, oldest first."""
        with self.db.read() as s:
            user_id = s.scalars(select(User.id).where(User.username == username)).one()
            rows = list(
                s.scalars(
                    select(CliSession).where(CliSession.user_id == user_id).order_by(CliSession.id)
                )
            )
            s.expunge_all()  # loaded, kept past the read's rollback
        return rows

    def events(self, table: str, action: str | None = None) -> list[AuditEvent]:
        """Audit events of ``table`` (and ``action``), oldest first."""
        query = select(AuditEvent).where(AuditEvent.table_name == table)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        with self.db.read() as s:
            events = list(s.scalars(query.order_by(AuditEvent.id)))
            s.expunge_all()
        return events


@pytest.fixture
def lab(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Lab:
    monkeypatch.setattr(
        lims.security, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    data = tmp_path / "data"
    url = db.engine.url.render_as_string(hide_password=False)
    env = clean_env(data, LIMS_DATABASE_URL=url, LIMS_LOG_LEVEL="DEBUG")
    passwords: dict[str, Path] = {}
    for username, password in [
        (DEMO_ADMIN[0], DEMO_ADMIN[2]),
        *((u.username, u.password) for u in DEMO_USERS),
    ]:
        passwords[username] = tmp_path / f"{username}.pw"
        passwords[username].write_text(password + "\n", encoding="utf-8")
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("Wrong#Password-1\n", encoding="utf-8")
    passwords["wrong"] = wrong
    built = Lab(db, data, env, monkeypatch, capsys, passwords)
    r = built.run("init", "--demo")
    assert r.code == 0, r.err
    return built


class _NoArgon2:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"argon2 used ({name}) although a session was open")


def _forbid_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> bool:
        raise AssertionError("password checked although a session was open")

    monkeypatch.setattr(lims.security, "password_matches", refuse)
    monkeypatch.setattr(lims.security, "_HASHER", _NoArgon2())


def _token(lab: Lab, username: str) -> str:
    return lab.token_file(username).read_text(encoding="ascii").strip()


# --------------------------------------------------------------------------- the session works


def test_login_then_queries_without_password_or_argon2(lab: Lab) -> None:
    with_password = lab.run("work-order", "list", *lab.pw("zhang"))
    assert with_password.code == 0, with_password.err
    r = lab.run("login", *lab.pw("zhang"))
    assert r.code == 0, r.err
    assert "logged in as zhang until" in r.out
    assert "已登录 zhang" in r.out

    _forbid_argon2(lab.monkeypatch)
    with_session = lab.run("work-order", "list", "--user", "zhang")
    assert with_session.code == 0, with_session.err
    assert with_session.out == with_password.out
    assert "WO-DEMO-" in with_session.out
    assert "1–5 of 5" in with_session.out
    certificates = lab.run("certificate", "list", "--user", "zhang")
    assert certificates.code == 0, certificates.err
    assert "certificate(s)" in certificates.out


def test_token_file_is_private_and_the_token_is_never_shown(lab: Lab) -> None:
    login = lab.run("login", *lab.pw("zhao"))
    assert login.code == 0, login.err
    path = lab.token_file("zhao")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = _token(lab, "zhao")
    assert len(token) >= 43
    query = lab.run("certificate", "list", "--user", "zhao")
    assert query.code == 0, query.err
    bad = lab.run("certificate", "list", "--user", "zhang")  # no session of zhang: refused
    assert bad.code != 0
    logout = lab.run("logout", "--user", "zhao")
    assert logout.code == 0, logout.err
    for outcome in (login, query, bad, logout):
        assert token not in outcome.out
        assert token not in outcome.err
    log = (lab.data / "logs" / "lims.log").read_text(encoding="utf-8")
    assert "CLI session" in log  # the log is written, at DEBUG
    assert token not in log
    (row,) = lab.rows("zhao")
    assert row.token_sha256 != token
    assert all(token not in str(ev.state) for ev in lab.events("cli_sessions"))


def test_login_and_logout_are_audited_with_reasons(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("li")).code == 0
    (row,) = lab.rows("li")
    assert row.closed_at is None
    assert timedelta(minutes=29) < row.expires_at - row.created_at <= timedelta(minutes=30)
    assert row.host
    assert row.os_user
    r = lab.run("logout", "--user", "li")
    assert r.code == 0, r.err
    assert "logged out: the session of li is closed" in r.out
    assert not lab.token_file("li").exists()
    (row,) = lab.rows("li")
    assert row.closed_at is not None

    created, closed = lab.events("cli_sessions")
    assert (created.action, created.actor, created.record_id) == ("create", "li", str(row.id))
    assert "opened by lims login" in str(created.reason)
    assert (closed.action, closed.actor) == ("update", "li")
    assert closed.reason == "CLI session closed by lims logout"
    assert set(closed.changes) == {"closed_at"}

    # closed means closed: the next query asks for the password again
    r = lab.run("certificate", "list", "--user", "li")
    assert NO_TERMINAL in one_error_line(r)
    assert lab.run("audit", "verify").code == 0


def test_logout_without_session_says_so(lab: Lab) -> None:
    r = lab.run("logout", "--user", "wang")
    assert r.code == 0, r.err
    assert "no session of wang here" in r.out
    assert lab.events("cli_sessions") == []


def test_logout_removes_a_damaged_token_file(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("wang")).code == 0
    lab.token_file("wang").write_text("garbage!\n", encoding="ascii")
    r = lab.run("logout", "--user", "wang")
    assert r.code == 0, r.err
    assert "held no open session; removed" in r.out
    assert not lab.token_file("wang").exists()


def test_a_token_file_that_cannot_be_written_closes_the_new_session(lab: Lab) -> None:
    (lab.data / "sessions").write_text("not a directory\n", encoding="utf-8")
    line = one_error_line(lab.run("login", *lab.pw("wang")))
    assert "cannot write the session file" in line
    (row,) = lab.rows("wang")
    assert row.closed_at is not None
    reasons = [ev.reason for ev in lab.events("cli_sessions", "update")]
    assert reasons == ["CLI session closed: its token file was not written"]


def test_a_new_login_replaces_the_previous_session(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    first = _token(lab, "zhao")
    assert lab.run("login", *lab.pw("zhao")).code == 0
    assert _token(lab, "zhao") != first
    old, new = lab.rows("zhao")
    assert old.closed_at is not None
    assert new.closed_at is None
    reasons = [ev.reason for ev in lab.events("cli_sessions", "update")]
    assert reasons == ["CLI session replaced by a new lims login"]
    # the first token no longer works
    lab.token_file("zhao").write_text(first + "\n", encoding="ascii")
    r = lab.run("certificate", "list", "--user", "zhao")
    assert "the session of zhao was closed" in one_error_line(r)


def test_login_with_a_wrong_password_fails_and_is_counted(lab: Lab) -> None:
    r = lab.run("login", "--user", "zhao", "--password-file", str(lab.passwords["wrong"]))
    assert "unknown user or wrong password" in one_error_line(r)
    assert not lab.token_file("zhao").exists()
    assert lab.events("cli_sessions") == []
    failed = lab.events("users", "login_failed")
    assert failed[-1].state["failures"] == 1


def test_an_explicit_password_file_always_uses_the_password(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    r = lab.run(
        "certificate", "list", "--user", "zhao", "--password-file", str(lab.passwords["wrong"])
    )
    assert "unknown user or wrong password" in one_error_line(r)


# --------------------------------------------------------------------------- refusals


def test_an_expired_session_is_refused(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    later = utcnow() + timedelta(minutes=31)
    lab.monkeypatch.setattr(sessions_service, "utcnow", lambda: later)
    line = one_error_line(lab.run("certificate", "list", "--user", "zhao"))
    assert "the session of zhao expired at" in line
    assert NO_TERMINAL in line
    # the password still works
    assert lab.run("certificate", "list", *lab.pw("zhao")).code == 0


def test_a_shorter_configured_lifetime_ends_open_sessions(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    (lab.data / "lims.toml").write_text("cli_session_minutes = 10\n", encoding="utf-8")
    later = utcnow() + timedelta(minutes=11)
    lab.monkeypatch.setattr(sessions_service, "utcnow", lambda: later)
    assert "expired" in one_error_line(lab.run("certificate", "list", "--user", "zhao"))


def test_sessions_can_be_turned_off(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    (lab.data / "lims.toml").write_text("cli_session_minutes = 0\n", encoding="utf-8")
    assert one_error_line(lab.run("certificate", "list", "--user", "zhao")) == (
        f"error: {NO_TERMINAL}: use --password-file"
    )
    line = one_error_line(lab.run("login", *lab.pw("zhao")))
    assert "sessions are disabled" in line


def test_an_altered_token_is_refused(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    path = lab.token_file("zhao")
    token = _token(lab, "zhao")
    path.write_text(("A" if token[0] != "A" else "B") + token[1:] + "\n", encoding="ascii")
    line = one_error_line(lab.run("certificate", "list", "--user", "zhao"))
    assert "matches no session" in line
    assert NO_TERMINAL in line
    path.write_text("not a token!\n", encoding="ascii")
    assert "is damaged" in one_error_line(lab.run("certificate", "list", "--user", "zhao"))
    path.write_bytes(b"\xff\xfe\x00")
    assert "is damaged" in one_error_line(lab.run("certificate", "list", "--user", "zhao"))


def test_a_token_file_open_to_others_or_unreadable_is_refused(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    path = lab.token_file("zhao")
    path.chmod(0o644)
    line = one_error_line(lab.run("certificate", "list", "--user", "zhao"))
    assert "open to other users (mode 0644)" in line
    path.chmod(0o600)
    assert lab.run("certificate", "list", "--user", "zhao").code == 0

    # a symbolic link is not followed; a directory is not a token file
    real = path.with_name("elsewhere.token")
    shutil.move(path, real)
    path.symlink_to(real)
    line = one_error_line(lab.run("certificate", "list", "--user", "zhao"))
    assert "cannot read the session file" in line
    path.unlink()
    path.mkdir()
    line = one_error_line(lab.run("certificate", "list", "--user", "zhao"))
    assert "cannot read the session file" in line
    assert "not a regular file" in line


def test_a_session_of_another_user_is_refused(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    stolen = lab.token_file("zhang")
    shutil.copy(lab.token_file("zhao"), stolen)
    stolen.chmod(0o600)
    line = one_error_line(lab.run("work-order", "list", "--user", "zhang"))
    assert "belongs to another user, not zhang" in line
    assert NO_TERMINAL in line


def test_a_session_opened_elsewhere_is_refused(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    lab.monkeypatch.setattr(
        sessions_service,
        "current_origin",
        lambda: sessions_service.Origin("another-host", "someone"),
    )
    line = one_error_line(lab.run("certificate", "list", "--user", "zhao"))
    assert "opened on another host or by another OS user" in line


def test_the_session_of_a_locked_account_is_refused(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    wrong = ["--user", "zhao", "--password-file", str(lab.passwords["wrong"])]
    for _ in range(5):  # the policy's lockout threshold
        assert lab.run("certificate", "list", *wrong).code != 0
    with lab.db.read() as s:
        assert s.scalars(select(User.locked_at).where(User.username == "zhao")).one()
    line = one_error_line(lab.run("certificate", "list", "--user", "zhao"))
    assert "the account zhao cannot use its session" in line
    assert "locked" in line
    refused = lab.events("users", "login_refused")[-1]
    assert refused.state == {"purpose": "cli session", "why": "locked"}


def test_the_session_of_a_deactivated_or_expired_account_is_refused(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhang")).code == 0
    assert lab.run("login", *lab.pw("li")).code == 0
    r = lab.run("users", "deactivate", "zhang", "--reason", "left the lab", *lab.pw("admin"))
    assert r.code == 0, r.err
    line = one_error_line(lab.run("work-order", "list", "--user", "zhang"))
    assert "deactivated" in line
    with lab.db.write(actor="system:test", reason="account end date reached") as s:
        s.execute(
            update(User)
            .where(User.username == "li")
            .values(valid_until=utcnow().date() - timedelta(days=1))
        )
    line = one_error_line(lab.run("work-order", "list", "--user", "li"))
    assert "expired on" in line
    whys = [ev.state["why"] for ev in lab.events("users", "login_refused")]
    assert whys[-2:] == ["deactivated", "account expired"]


# --------------------------------------------------------------------------- the rule


def test_signing_still_needs_the_password_with_a_live_session(lab: Lab) -> None:
    for user in ("wang", "chen", "admin"):
        assert lab.run("login", *lab.pw(user)).code == 0
    _forbid_argon2(lab.monkeypatch)
    cases = [
        ["certificate", "sign", "CM-0001", "--as", "wang", "--meaning", "approved"],
        ["override", "grant", "1", "--rule", "STD", "--reason", "x", "--user", "chen"],
        ["users", "locked", "--user", "admin"],
        ["users", "unlock", "zhao", "--reason", "x", "--user", "admin"],
        ["keys", "list", "--user", "admin"],
        ["customers", "list", "--user", "admin"],
    ]
    for args in cases:
        assert NO_TERMINAL in one_error_line(lab.run(*args)), args
    # the same user's plain queries do use the session
    assert lab.run("certificate", "pending", "--user", "wang").code == 0
    assert lab.run("audit", "show", "--user", "admin", "--summary").code == 0


def test_the_rule_lives_in_one_declared_set() -> None:
    assert session_allowed("lims certificate list")
    assert session_allowed("lims work-order list")
    assert session_allowed("lims certificate revoke")
    assert not session_allowed("lims certificate sign")
    assert not session_allowed("lims certificate status-list")
    assert not session_allowed("lims override grant")
    assert not session_allowed("lims users locked")
    assert not session_allowed("lims keys list")
    assert not session_allowed("lims customers account add")
    assert not session_allowed("lims")
    assert not session_allowed()  # outside a command: the password


def test_every_declared_command_exists_and_the_login_help_states_the_rule() -> None:
    from typer import _click as click
    from typer.core import TyperGroup

    from lims.cli.login_cmd import LOGIN_HELP
    from lims.cli.main import load_command

    for name in PASSWORD_EVERY_TIME:
        words = name.split()
        command: click.Command | None = load_command(words[0])
        for word in words[1:]:
            assert isinstance(command, TyperGroup), name
            command = command.get_command(click.Context(command), word)
        assert command is not None, name
        assert f"lims {name}" in " ".join(LOGIN_HELP.split())
    assert "21 CFR 11.200" in LOGIN_HELP


# --------------------------------------------------------------------------- start-up


def test_the_session_path_imports_no_password_hasher(lab: Lab) -> None:
    assert lab.run("login", *lab.pw("zhao")).code == 0
    code = (
        "import sys\n"
        "import lims.cli.main as m\n"
        "sys.argv = ['lims', 'certificate', 'list', '--user', 'zhao']\n"
        "try:\n"
        "    m.main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = ('argon2', 'pint', 'numpy', 'cryptography', 'alembic', 'PySide6')\n"
        "print(code, sorted({k.split('.')[0] for k in sys.modules} & set(heavy)))\n"
    )
    env = {k: v for k, v in lab.env.items() if k != "LIMS_LOG_LEVEL"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0 []", (out.stdout, out.stderr)


# --------------------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("cli_session_minutes = -1\n", "cli_session_minutes must be a non-negative integer"),
        ("cli_session_minutes = 1441\n", "cli_session_minutes must be at most 1440"),
        ('cli_session_minutes = "30"\n', "cli_session_minutes must be a non-negative integer"),
    ],
)
def test_the_session_lifetime_setting_is_checked(tmp_path: Path, line: str, error: str) -> None:
    (tmp_path / "lims.toml").write_text(line, encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        load_settings({"LIMS_DATA_DIR": str(tmp_path)})


def test_the_session_lifetime_defaults_to_30_minutes(tmp_path: Path) -> None:
    s = load_settings({"LIMS_DATA_DIR": str(tmp_path)})
    assert s.cli_session_minutes == 30
    assert s.as_display()["cli_session_minutes"] == "30"
    assert os.fspath(s.sessions_dir) == os.fspath(tmp_path / "sessions")
