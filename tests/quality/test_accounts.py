"""Accounts: lockout after the configured failures (recorded, shown to quality managers),
unlock with a reason; a locked, expired or deactivated user can neither sign nor run;
accounts and authorizations created through the services and the command line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from lims.audit import verify
from lims.cli.main import app
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import Authorization, Role, Run, RunStatus, User
from lims.quality.accounts import (
    add_user,
    authorize,
    deactivate_user,
    failed_attempts,
    locked_accounts,
    login,
    unlock_user,
)
from lims.quality.errors import PermissionDenied, QualityError
from lims.quality.permissions import Permission, require
from lims.security import AuthenticationError, PasswordPolicy
from tests.engine import fakes
from tests.engine.conftest import seed_lab, start_run
from tests.quality._build import PASSWORD, POLICY, SYSTEM, build_lab

WRONG = "Wrong#2026-zz"


def test_lockout_after_configured_failures_is_recorded_and_shown(db: Database) -> None:
    lab = build_lab(db, [Role.TECHNICIAN, Role.QUALITY_MANAGER, Role.ADMINISTRATOR])
    qm, admin = lab.users[Role.QUALITY_MANAGER], lab.users[Role.ADMINISTRATOR]
    for threshold in (2, 4):  # the configured number, not a constant
        policy = PasswordPolicy(min_length=10, max_age_days=180, lockout_threshold=threshold)
        for i in range(1, threshold):
            with pytest.raises(AuthenticationError, match="wrong password"):
                login(db, "technician", WRONG, policy)
            with db.read() as s:  # each failure is committed, although login failed
                tech = s.scalars(select(User).where(User.username == "technician")).one()
                assert (tech.failed_logins, tech.locked_at) == (i, None)
        # the failure that locks reads like any other: it never tells the account exists
        with pytest.raises(AuthenticationError, match=r"^unknown user or wrong password$"):
            login(db, "technician", WRONG, policy)
        with db.read() as s:
            tech = s.scalars(select(User).where(User.username == "technician")).one()
            assert (tech.failed_logins, tech.locked_at is not None) == (threshold, True)
        with pytest.raises(AuthenticationError, match="locked"):
            login(db, "technician", PASSWORD, policy)  # even the right password now
        # shown to quality managers (and administrators), with the failures behind it
        with db.read() as s:
            shown = locked_accounts(s, qm)
            assert [(a.username, a.failed_logins) for a in shown] == [("technician", threshold)]
            assert shown[0].locked_at is not None
            attempts = failed_attempts(s, qm)
            assert sum(a.action == "login_failed" for a in attempts) >= threshold
            assert attempts[0].action == "login_refused"  # newest first
            assert attempts[0].why == "locked"
            with pytest.raises(PermissionDenied):
                locked_accounts(s, lab.users[Role.TECHNICIAN])
        # unlocking needs a reason and an administrator
        with pytest.raises(QualityError, match="reason"), db.write(actor=admin) as s:
            unlock_user(s, admin, "technician")
        with pytest.raises(PermissionDenied), db.write(actor=qm, reason="x") as s:
            unlock_user(s, qm, "technician")
        with db.write(actor=admin, reason="user called, identity checked") as s:
            unlock_user(s, admin, "technician")
        assert login(db, "technician", PASSWORD, policy).username == "technician"
    with db.read() as s:
        assert verify(s).ok


def _set(db: Database, username: str, **values: object) -> None:
    with db.write(actor=SYSTEM, reason="test: account state") as s:
        s.execute(update(User).where(User.username == username).values(**values))


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"locked_at": datetime(2026, 1, 1, tzinfo=UTC)}, "locked"),
        ({"valid_until": date.today() - timedelta(days=1)}, "expired"),
        ({"active": False}, "deactivated"),
    ],
)
def test_locked_expired_or_deactivated_user_can_neither_run_nor_sign(
    db: Database, state: dict[str, object], words: str
) -> None:
    seed_lab(db)  # the demo lab; zhang is an authorized technician
    handle = start_run(db, fakes.bench(1000.0))
    assert handle.wait(60) == RunStatus.COMPLETED, handle.final_reason  # zhang can run
    _set(db, "zhang", **state)
    # running: the engine refuses before the first step and names the account's state
    handle = start_run(db, fakes.bench(1000.0))
    assert handle.wait(60) == RunStatus.REFUSED
    with db.read() as s:
        run = s.get(Run, handle.run_id)
        assert run is not None
        assert words in run.provenance["rule_failures"]["operator"]
        assert run.last_completed_step is None
    # signing and running: no permission survives the account's state
    with db.read() as s:
        zhang = s.scalars(select(User).where(User.username == "zhang")).one()
        s.expunge(zhang)
    for p in (Permission.RUN_PROCEDURE, Permission.SIGN_PERFORMED):
        with pytest.raises(PermissionDenied, match=words):
            require(zhang, p)
    # and the password (re-entered at every signature) no longer logs in
    demo_password = "Bench#2026-zw"
    with pytest.raises(AuthenticationError, match=words):
        login(db, "zhang", demo_password, PasswordPolicy())


def test_accounts_and_authorizations_through_the_services(db: Database) -> None:
    lab = build_lab(db, [Role.QUALITY_MANAGER, Role.ADMINISTRATOR])
    qm, admin = lab.users[Role.QUALITY_MANAGER], lab.users[Role.ADMINISTRATOR]
    with db.write(actor=admin, reason="new technician") as s:
        user = add_user(
            s,
            admin,
            "liu",
            "刘洋",
            PASSWORD,
            [Role.TECHNICIAN],
            POLICY,
            valid_until=date(2027, 12, 31),
        )
        assert [r.value for r in user.role_set] == ["technician"]
    with pytest.raises(QualityError, match="at least one role"), db.write(actor=admin) as s:
        add_user(s, admin, "nobody", "无", PASSWORD, [], POLICY)
    with pytest.raises(PermissionDenied), db.write(actor=admin, reason="x") as s:
        authorize(s, admin, "liu", "jjg635", date(2026, 3, 1), date(2027, 3, 1))
    with pytest.raises(QualityError, match="only technicians"), db.write(actor=qm, reason="x") as s:
        authorize(s, qm, "administrator", "jjg635", date(2026, 3, 1), date(2027, 3, 1))
    with db.write(actor=qm, reason="上岗证 issued") as s:
        auth = authorize(
            s, qm, "liu", "jjg635", date(2026, 3, 1), date(2027, 3, 1), competence_certificate="C7"
        )
        assert auth.granted_by_id == qm.id
        assert auth.is_valid_on(date(2026, 3, 1))
        assert not auth.is_valid_on(date(2027, 3, 2))
    with pytest.raises(QualityError, match="reason"), db.write(actor=admin) as s:
        deactivate_user(s, admin, "liu")
    with db.write(actor=admin, reason="left the lab") as s:
        deactivate_user(s, admin, "liu")
    with pytest.raises(AuthenticationError, match="deactivated"):
        login(db, "liu", PASSWORD, POLICY)
    with db.read() as s:
        assert verify(s).ok


def test_users_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    db = Database(url)
    upgrade(db.engine)
    build_lab(db, [Role.QUALITY_MANAGER, Role.ADMINISTRATOR, Role.AUDITOR])
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    new_pw = tmp_path / "new"
    new_pw.write_text("Newcomer#2026-a\n", encoding="utf-8")
    runner = CliRunner()

    def as_(username: str) -> list[str]:
        return ["--user", username, "--password-file", str(pw)]

    add = ["users", "add", "liu", "--name", "刘洋", "--role", "technician", "--role", "reviewer"]
    add += ["--new-password-file", str(new_pw)]
    out = runner.invoke(app, [*add, *as_("auditor")])
    assert out.exit_code != 0
    assert "permission denied" in str(out.exception)
    out = runner.invoke(app, [*add, *as_("administrator")])
    assert out.exit_code == 0, out.output
    assert "created liu (reviewer, technician)" in out.output
    auth = ["users", "authorize", "liu", "--procedure", "jjg635", "--valid-until", "2030-01-01"]
    out = runner.invoke(app, [*auth, *as_("qualitymanager")])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["users", "failures", *as_("qualitymanager")])
    assert out.exit_code == 0, out.output
    assert "0 failed or refused login(s)" in out.output
    with db.read() as s:
        liu = s.scalars(select(User).where(User.username == "liu")).one()
        assert sorted(r.value for r in liu.role_set) == ["reviewer", "technician"]
        grants = s.scalars(select(Authorization).where(Authorization.user_id == liu.id)).all()
        assert [(a.procedure_id, a.valid_until) for a in grants] == [("jjg635", date(2030, 1, 1))]
        assert verify(s).ok
    db.dispose()
