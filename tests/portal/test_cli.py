"""`lims customers …` and `lims portal serve` through the command line (in-process)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text

from lims.db import Database
from lims.models import AuditEvent, CustomerAccount, CustomerApiToken
from lims.services.customer_accounts import principal_for_token
from lims.services.public_verification import portal_hint
from tests.certificate_service.builder import PASSWORDS, lab_database, make_gas_run
from tests.lims._cli import LIMS, Outcome, clean_env, run_main
from tests.portal._lab import ENV_CUSTOMER, PASSING, issue

ACCOUNT_PASSWORD = "Green#Portal-2026"


@dataclass
class Cli:
    """The command line on a demo lab in ``tmp/lab``."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    @property
    def url(self) -> str:
        return f"sqlite:///{self.tmp / 'lab' / 'lims.sqlite3'}"

    def __call__(self, *args: str, **env: str) -> Outcome:
        full = {"LIMS_DATA_DIR": str(self.tmp / "lab"), **env}
        return run_main(list(args), full, self.monkeypatch, self.capsys)

    def as_user(self, name: str) -> list[str]:
        return ["--user", name, "--password-file", str(self.tmp / name)]

    def accounts(self) -> list[str]:
        db = Database(self.url)
        try:
            with db.read() as s:
                return list(s.scalars(select(CustomerAccount.username)))
        finally:
            db.dispose()


@pytest.fixture
def lims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    (tmp_path / "lab").mkdir()
    lab_database(f"sqlite:///{tmp_path / 'lab' / 'lims.sqlite3'}").dispose()
    for name, password in {**PASSWORDS, "admin": "Root#Lims-2026"}.items():
        (tmp_path / name).write_text(password + "\n", encoding="utf-8")
    (tmp_path / "account").write_text(ACCOUNT_PASSWORD + "\n", encoding="utf-8")
    (tmp_path / "weak").write_text("weak\n", encoding="utf-8")
    return Cli(tmp_path, monkeypatch, capsys)


def one_line(outcome: Outcome) -> str:
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(lines) == 1, outcome.err
    assert "Traceback" not in outcome.err
    return lines[0]


def test_administrators_manage_customer_accounts_and_tokens(lims: Cli) -> None:
    listed = lims("customers", "list", *lims.as_user("admin"))
    assert listed.code == 0, listed.err
    env_line = next(line for line in listed.out.splitlines() if ENV_CUSTOMER in line)
    customer_id = env_line.split()[0]
    add = [
        "customers", "account", "add", "green.qa", "--customer", customer_id,
        "--name", "孙丽 Sun Li", "--account-password-file", str(lims.tmp / "account"),
    ]  # fmt: skip
    refused = lims(*add, *lims.as_user("zhang"))
    assert refused.code != 0
    assert "permission denied" in one_line(refused)
    weak = lims(*add[:-1], str(lims.tmp / "weak"), *lims.as_user("admin"))
    assert weak.code != 0
    assert "password" in one_line(weak)
    unknown = lims(*add[:4], "--customer", "9999", *add[6:], *lims.as_user("admin"))
    assert unknown.code != 0
    assert "9999" in one_line(unknown)
    assert lims.accounts() == []  # nothing written by a refused command
    created = lims(*add, *lims.as_user("admin"))
    assert created.code == 0, created.err
    assert lims.accounts() == ["green.qa"]
    again = lims(*add, *lims.as_user("admin"))
    assert "exists already" in one_line(again)

    issued = lims(
        "customers", "token", "issue", "green.qa", "--label", "ERP", *lims.as_user("admin")
    )
    assert issued.code == 0, issued.err
    secret = issued.out.split()[-1]
    assert secret.startswith("lcp_")
    db = Database(lims.url)
    try:
        with db.read() as s:
            principal = principal_for_token(s, secret)
            assert principal is not None
            assert principal.username == "green.qa"
            # only the token's hash is kept: the secret is in no table, not even the audit trail
            for table in ("customer_api_tokens", "audit_events"):
                dump = " ".join(str(r) for r in s.execute(text(f"SELECT * FROM {table}")))
                assert secret not in dump
            token_id = s.scalars(select(CustomerApiToken.id)).one()
    finally:
        db.dispose()
    listing = lims("customers", "token", "list", *lims.as_user("admin"))
    assert secret[:12] in listing.out
    assert secret not in listing.out
    no_reason = lims(
        "customers", "token", "revoke", str(token_id), "--reason", " ", *lims.as_user("admin")
    )
    assert no_reason.code != 0
    one_line(no_reason)
    revoked = lims(
        "customers", "token", "revoke", str(token_id), "--reason", "ERP replaced",
        *lims.as_user("admin"),
    )  # fmt: skip
    assert revoked.code == 0, revoked.err
    db = Database(lims.url)
    try:
        with db.read() as s:
            assert principal_for_token(s, secret) is None
            actions = [
                (e.action, e.actor)
                for e in s.scalars(
                    select(AuditEvent).where(AuditEvent.table_name == "customer_api_tokens")
                )
            ]
            assert actions == [("create", "admin"), ("update", "admin")]
    finally:
        db.dispose()
    not_locked = lims(
        "customers", "account", "unlock", "green.qa", "--reason", "x", *lims.as_user("admin")
    )
    assert "not locked" in one_line(not_locked)
    accounts = lims("customers", "account", "list", *lims.as_user("chen"))
    assert "green.qa" in accounts.out


def test_portal_serve_refuses_bad_settings_and_databases_in_one_line(
    lims: Cli, tmp_path: Path
) -> None:
    bad_rate = lims("portal", "serve", LIMS_PORTAL_VERIFY_RATE="lots")
    assert bad_rate.code == 2
    assert "LIMS_PORTAL_VERIFY_RATE" in one_line(bad_rate)
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = lims("portal", "serve", LIMS_DATA_DIR=str(empty))
    assert missing.code == 3
    assert "cannot be read" in one_line(missing)
    assert not (empty / "lims.sqlite3").exists()  # read-only: not even an empty file appears


def test_demo_hint_names_the_command_and_a_verification_address(lims: Cli) -> None:
    db = Database(lims.url)
    try:
        number = issue(db, make_gas_run(db, 1, PASSING))
        hint = portal_hint(db, lims.tmp / "lab")
        with db.read() as s:
            sha = s.scalar(
                text("SELECT content_sha256 FROM certificates WHERE number = :n"), {"n": number}
            )
    finally:
        db.dispose()
    assert (
        hint.command
        == f"LIMS_DATA_DIR={lims.tmp / 'lab'} lims portal serve --host 127.0.0.1 --port 8080"
    )
    assert hint.verification_address == f"http://127.0.0.1:8080/v/{number}?h={sha}"


def test_lims_portal_serve_serves_and_stops_cleanly_on_ctrl_c(lims: Cli) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = clean_env(lims.tmp / "lab")
    proc = subprocess.Popen(
        [str(LIMS), "portal", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as home:
                    status, body = home.status, home.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the portal did not start"
                time.sleep(0.2)
        assert status == 200
        assert "示范碳计量中心" in body
        with pytest.raises(urllib.error.HTTPError) as unknown:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v/NO-SUCH-NUMBER", timeout=5)
        assert unknown.value.code == 404
        unknown.value.close()
        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/login",
            data=b"username=a.b&password=x",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        with pytest.raises(urllib.error.HTTPError) as no_token:
            urllib.request.urlopen(login, timeout=5)
        assert no_token.value.code == 403  # no CSRF token, no login attempt
        no_token.value.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"portal on http://127.0.0.1:{port}/" in out
