"""Bad input across the command line: one line naming what and where, an exit code, nothing written.

Every case runs ``lims`` in-process through ``main()`` (the console script's entry
point) against a demo lab, on SQLite and on PostgreSQL. For each: exactly one
non-empty line on stderr, starting with ``error:``, naming the option, key or file;
no traceback; the expected exit status; the row count of every table unchanged (a
refused login adds its audit event, as 21 CFR 11.300 wants, and nothing else). The
over-long name cases are followed by a search of the terminal output and the log
for ``argon2``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from lims.db import Database
from lims.db.base import Base
from lims.services.demo import DEMO_ADMIN
from tests.certificate_service.builder import PASSWORDS, lab_database
from tests.conftest import PG_URL, _pg_schema_url, require_pg
from tests.lims._cli import Outcome, run_main

LONG_NAME = "张" * 10_000
LONG_TERM = "x" * 100_000


@dataclass(frozen=True)
class Case:
    """One bad input: the arguments, what the one line must say, the exit status."""

    name: str
    args: tuple[str, ...]
    says: str
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)
    #: Audit events the case may add (a refused login is recorded).
    security_events: int = 0


def _rm(**over: str) -> tuple[str, ...]:
    opts = {
        "--tag": "RM-CO2-9999",
        "--gbw": "GBW(E)062140",
        "--name": "氮中二氧化碳 CO2 in N2",
        "--component": "CO2",
        "--certified": "400 umol/mol",
        "--uncertainty": "4 umol/mol",
        "--expires": "2030-01-01",
        "--user": "chen",
        "--password-file": "{tmp}/chen",
        "--remaining": "9 MPa",
    }
    opts.update(over)
    return ("rm", "receive", *[x for kv in opts.items() for x in kv])


def _add(username: str = "liu", **over: str) -> tuple[str, ...]:
    opts = {
        "--name": "刘洋",
        "--role": "technician",
        "--new-password-file": "{tmp}/newpw",
        "--user": "admin",
        "--password-file": "{tmp}/admin",
    }
    opts.update(over)
    return ("users", "add", username, *[x for kv in opts.items() for x in kv])


ADMIN = ("--user", "admin", "--password-file", "{tmp}/admin")
AUDITOR = ("--user", "zhao", "--password-file", "{tmp}/zhao")

CASES = [
    # settings and locations
    Case("url-port-garbage", ("config", "show"), "LIMS_DATABASE_URL: malformed database URL",
         env={"LIMS_DATABASE_URL": "postgresql+psycopg://::bad::/x"}),
    Case("url-port-word", ("config", "show"), "LIMS_DATABASE_URL: malformed database URL",
         env={"LIMS_DATABASE_URL": "postgresql+psycopg://u:hunter2@host:notaport/db"}),
    Case("url-backend", ("config", "show"), "unsupported database 'mysql'",
         env={"LIMS_DATABASE_URL": "mysql://u@h/db"}),
    Case("url-no-database", ("config", "show"), "names no database",
         env={"LIMS_DATABASE_URL": "postgresql+psycopg://u@h:5432/"}),
    Case("config-missing", ("config", "show"), "LIMS_CONFIG: settings file",
         env={"LIMS_CONFIG": "{tmp}/nope.toml"}),
    Case("config-syntax", ("config", "show"), "TOML syntax error",
         env={"LIMS_CONFIG": "{tmp}/syntax.toml"}),
    Case("config-unknown-key", ("config", "show"), "unknown setting 'lockout'",
         env={"LIMS_CONFIG": "{tmp}/unknown.toml"}),
    Case("config-negative", ("config", "show"), "lockout_threshold must be a non-negative",
         env={"LIMS_CONFIG": "{tmp}/negative.toml"}),
    Case("config-anchor-copy", ("config", "show"), "anchor_copy must be the path of a file",
         env={"LIMS_CONFIG": "{tmp}/anchorcopy.toml"}),
    Case("no-lab-list", ("certificate", "list", *AUDITOR), "there is no lab at",
         env={"LIMS_DATA_DIR": "{tmp}/empty", "LIMS_DATABASE_URL": ""}),
    Case("no-lab-verify", ("audit", "verify"), "there is no lab at",
         env={"LIMS_DATA_DIR": "{tmp}/empty", "LIMS_DATABASE_URL": ""}),
    Case("no-lab-rm-list", ("rm", "list"), "there is no lab at",
         env={"LIMS_DATA_DIR": "{tmp}/empty", "LIMS_DATABASE_URL": ""}),
    # the command line itself
    Case("unknown-command", ("frobnicate",), "No such command"),
    Case("run-id-not-a-number", ("certificate", "draft", "abc", "--user", "zhang"),
         "Invalid value for 'run_id'"),
    Case("missing-option", ("users", "add", "liu"), "Missing option"),
    # units
    Case("units-dimension", ("units", "check", "-5 %", "--like", "s"), "wrong dimension"),
    Case("units-infinite", ("units", "check", "1e400 ppm"), "not a finite number"),
    Case("units-unknown", ("units", "check", "5 kilofoo"), "unknown unit 'kilofoo'"),
    Case("units-empty", ("units", "check", ""), "not a quantity"),
    # accounts
    Case("name-too-long", _add(**{"--name": LONG_NAME}), "--name: 10000 characters"),
    Case("username-too-long", _add("u" * 10_000), "USERNAME: 10000 characters"),
    Case("name-en-too-long", _add(**{"--name-en": "N" * 500}), "--name-en: 500 characters"),
    Case("role-unknown", _add(**{"--role": "wizard"}), "--role: 'wizard'"),
    Case("password-weak", _add(**{"--new-password-file": "{tmp}/weakpw"}),
         "password too short"),
    Case("valid-until-bad", _add(**{"--valid-until": "2026-13-45"}), "--valid-until"),
    Case("new-password-file-missing", _add(**{"--new-password-file": "{tmp}/none"}),
         "cannot read password file"),
    Case("user-exists", _add("zhang"), "user 'zhang' already exists"),
    # the failed login is recorded twice: the account's failure count, the attempt itself
    Case("login-wrong-password", ("users", "locked", "--user", "li", "--password-file",
         "{tmp}/wrong"), "unknown user or wrong password", security_events=2),
    Case("login-unknown-long-user", ("users", "locked", "--user", "q" * 10_000,
         "--password-file", "{tmp}/wrong"), "unknown user or wrong password",
         security_events=1),
    Case("passwd-file-missing", ("users", "passwd", "--user", "zhang", "--password-file",
         "{tmp}/none"), "--password-file"),
    Case("deactivate-no-reason", ("users", "deactivate", "li", "--reason", " ", *ADMIN),
         "--reason"),
    # reference materials
    Case("rm-furlongs", _rm(**{"--certified": "1000 furlongs"}), "--certified: 1000.0 fur"),
    Case("rm-seconds", _rm(**{"--certified": "400 s"}), "--certified: 400.0 s is not an amount"),
    Case("rm-mass-fraction-gas", _rm(**{"--certified": "400 mg/kg"}), "--certified: 400.0 mg/kg"),
    Case("rm-amount-fraction-crm", _rm(**{"--component": "C", "--certified": "71 umol/mol"}),
         "is not a mass fraction"),
    Case("rm-infinite", _rm(**{"--certified": "1e400 umol/mol"}), "--certified: not a finite"),
    Case("rm-negative", _rm(**{"--certified": "-5 umol/mol"}), "--certified: a certified value"),
    Case("rm-uncertainty-dimension", _rm(**{"--uncertainty": "4 s"}),
         "--uncertainty: 4.0 s has the wrong dimension"),
    Case("rm-uncertainty-zero", _rm(**{"--uncertainty": "0 umol/mol"}), "--uncertainty: U must"),
    Case("rm-gbw", _rm(**{"--gbw": "XYZ"}), "--gbw: 'XYZ'"),
    Case("rm-expired", _rm(**{"--expires": "2020-01-01"}), "--expires"),
    Case("rm-k", _rm(**{"--k": "10"}), "--k: coverage factor"),
    Case("rm-remaining", _rm(**{"--remaining": "5 s"}), "--remaining"),
    Case("rm-tag-too-long", _rm(**{"--tag": "T" * 300}), "--tag: 300 characters"),
    # certificates
    Case("search-term-too-long", ("certificate", "list", "--customer", LONG_TERM, *AUDITOR),
         "--customer: 100000 characters"),
    Case("search-date", ("certificate", "list", "--from", "2026-02-30", *AUDITOR), "--from"),
    Case("draft-no-run", ("certificate", "draft", "999999", "--user", "zhang",
         "--password-file", "{tmp}/zhang"), "run 999999 does not exist"),
    Case("verify-missing-file", ("certificate", "verify", "{tmp}/none.pdf"), "cannot read"),
    # audit trail
    Case("anchors-missing", ("audit", "verify", "--anchors", "{tmp}/none.jsonl"),
         "--anchors: "),
    Case("anchors-broken", ("audit", "verify", "--anchors", "{tmp}/broken.jsonl"),
         "broken.jsonl: line 1"),
    Case("show-from", ("audit", "show", "--from", "yesterday", *AUDITOR),
         "--from: 'yesterday'"),
    Case("show-summary-record", ("audit", "show", "--summary", "--record", "users:1",
         *AUDITOR), "--summary counts a whole period"),
    Case("show-record", ("audit", "show", "--record", "users", *AUDITOR), "TABLE:ID"),
    # backups
    Case("restore-flipped-byte", ("restore", "{tmp}/flipped.zip"), "damaged",
         env={"LIMS_DATA_DIR": "{tmp}/restore-target", "LIMS_DATABASE_URL": ""}),
    Case("restore-not-zip", ("restore", "{tmp}/admin"), "not a readable backup file",
         env={"LIMS_DATA_DIR": "{tmp}/restore-target", "LIMS_DATABASE_URL": ""}),
    Case("backup-exists", ("backup", "{tmp}/admin", *ADMIN), "exists already"),
    Case("backup-no-dir", ("backup", "{tmp}/no/such/b.zip", *ADMIN), "no such directory"),
    # bench files
    Case("bench-infinite-range", ("sim", "serve", "{tmp}/infinite.toml"),
         "instruments.analyzer.sim.range: not a finite number"),
    Case("bench-negative-noise", ("sim", "serve", "{tmp}/noise.toml"),
         "instruments.analyzer.sim.noise_sd: noise_sd cannot be negative"),
    Case("bench-time-scale", ("sim", "serve", "{tmp}/timescale.toml"),
         "time_scale: must be positive"),
]  # fmt: skip


@dataclass
class World:
    """A demo lab and the files the cases point at."""

    db: Database
    url: str
    lab_dir: Path
    tmp: Path

    def resolve(self, value: str) -> str:
        return value.replace("{tmp}", str(self.tmp))


def _bench(tmp: Path, name: str, old: str, new: str) -> None:
    source = Path(__file__).resolve().parents[2] / "examples" / "benches" / "gas-analyzer.toml"
    content = source.read_text(encoding="utf-8")
    assert old in content
    (tmp / name).write_text(content.replace(old, new, 1), encoding="utf-8")


def _files(world: World) -> None:
    tmp = world.tmp
    for name, password in {**PASSWORDS, "admin": DEMO_ADMIN[2]}.items():
        (tmp / name).write_text(password + "\n", encoding="utf-8")
    (tmp / "wrong").write_text("Wrong#2026-00\n", encoding="utf-8")
    (tmp / "newpw").write_text("Fresh#2026-abc\n", encoding="utf-8")
    (tmp / "weakpw").write_text("short\n", encoding="utf-8")
    (tmp / "syntax.toml").write_text("[lims\n", encoding="utf-8")
    (tmp / "unknown.toml").write_text("lockout = 3\n", encoding="utf-8")
    (tmp / "negative.toml").write_text("lockout_threshold = -1\n", encoding="utf-8")
    (tmp / "anchorcopy.toml").write_text("anchor_copy = 5\n", encoding="utf-8")
    (tmp / "broken.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp / "empty").mkdir()
    _bench(tmp, "infinite.toml", 'range = "2000 umol/mol"', 'range = "1e400 ppm"')
    _bench(tmp, "noise.toml", 'noise_sd = "1.0 umol/mol"', 'noise_sd = "-1.0 umol/mol"')
    _bench(tmp, "timescale.toml", "time_scale = 400", "time_scale = -1")
    # a real backup of the lab, then one byte flipped inside a compressed member
    from lims.quality.backup import backup
    from tests.certificate_service.builder import user

    good = tmp / "good.zip"
    backup(world.db, user(world.db, "admin"), tmp / "archive", good)
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("tables/users.jsonl")
        offset = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data = bytearray(good.read_bytes())
    data[offset + info.compress_size // 2] ^= 0x40
    (tmp / "flipped.zip").write_bytes(bytes(data))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("bad-input")
    lab_dir = tmp / "lab"
    lab_dir.mkdir()
    admin = None
    schema = ""
    if request.param == "sqlite":
        url = f"sqlite:///{lab_dir / 'lims.sqlite3'}"
    else:
        require_pg()
        schema = f"bad_{os.getpid()}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(schema)
    db = lab_database(url)
    w = World(db, url, lab_dir, tmp)
    try:
        _files(w)
        yield w
    finally:
        db.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


def _counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {
            t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }


def _run(
    world: World, case: Case, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Outcome:
    env = {"LIMS_DATA_DIR": str(world.lab_dir), "LIMS_DATABASE_URL": world.url, "COLUMNS": "200"}
    env.update({k: world.resolve(v) for k, v in case.env.items()})
    env = {k: v for k, v in env.items() if v}
    return run_main([world.resolve(a) for a in case.args], env, monkeypatch, capsys)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_one_line_and_changes_nothing(
    world: World, case: Case, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _counts(world.db)
    outcome = _run(world, case, monkeypatch, capsys)
    lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
    assert outcome.code == case.code, outcome
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("error: "), lines[0]
    assert case.says in lines[0], lines[0]
    assert "Traceback" not in outcome.out + outcome.err
    assert "hunter2" not in outcome.out + outcome.err  # a password in a URL stays hidden
    after = _counts(world.db)
    events = after.pop("audit_events") - before.pop("audit_events")
    after.pop("audit_head")
    before.pop("audit_head")
    assert after == before, case.name
    assert events == case.security_events, case.name
    assert list((world.tmp / "empty").iterdir()) == []  # no lab was created where none is
    restore_target = world.tmp / "restore-target"
    assert not (restore_target / "lims.sqlite3").exists()
    log = world.lab_dir / "logs" / "lims.log"
    logged = log.read_text(encoding="utf-8") if log.exists() else ""
    assert "argon2" not in outcome.out + outcome.err + logged


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    print(f"{len(CASES)} bad inputs, each refused in one line with nothing written")


def test_an_unexpected_database_failure_is_one_line_and_a_log_without_secrets(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure nobody foresaw (here: an account inserted past the service's checks)."""
    import lims.quality.accounts as accounts
    from lims.db.types import utcnow
    from lims.models import User
    from lims.security import hash_password

    def insert_duplicate(session: object, username: str, full_name: str, password: str,
                         *_: object, **__: object) -> User:  # fmt: skip
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        user = User(
            username="zhang",  # taken: the database refuses it, with the hash among the values
            full_name=full_name,
            password_hash=hash_password(password),
            password_changed_at=utcnow(),
        )
        session.add(user)
        session.flush()
        return user

    monkeypatch.setattr(accounts, "create_user", insert_duplicate)
    before = _counts(world.db)
    outcome = _run(world, Case("duplicate", _add("liu2"), ""), monkeypatch, capsys)
    lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
    log = world.lab_dir / "logs" / "lims.log"
    assert outcome.code == 70
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("error: lims users add failed unexpectedly (IntegrityError)")
    assert str(log) in lines[0]
    logged = log.read_text(encoding="utf-8")
    assert "Traceback" in logged
    assert "IntegrityError" in logged
    assert "argon2" not in outcome.out + outcome.err + logged
    assert "Key (username)" not in logged  # PostgreSQL's DETAIL line quotes row values
    assert _counts(world.db) == before


def test_secrets_are_blanked_in_what_is_logged() -> None:
    from lims.cli.errors import safe_traceback, scrub
    from lims.security import hash_password

    digest = hash_password("Bench#2026-zw")
    key = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----"
    assert "argon2" not in scrub(f"values ('zhang', '{digest}')")
    assert "MIIF" not in scrub(f"bad key {key} here")
    with pytest.raises(ValueError, match="cannot store") as info:
        raise ValueError(f"cannot store {digest}")
    assert "argon2" not in safe_traceback(info.value)
