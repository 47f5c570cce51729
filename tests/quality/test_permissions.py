"""The role matrix, exercised through the services: each role can do exactly what it should."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db import Database
from lims.models import (
    EquipmentStatus,
    ExternalCertificate,
    ImpactAssessment,
    Incident,
    MeasurementStandard,
    Role,
    User,
)
from lims.quality import accounts, incidents, materials, proficiency, standards, trace
from lims.quality.audit_review import find_events
from lims.quality.due import due_list
from lims.quality.errors import PermissionDenied
from lims.quality.permissions import Permission, can, require
from lims.services.materials import receive_reference_material
from lims.services.users import create_user
from lims.units import parse_quantity
from tests.quality._build import PASSWORD, POLICY, SYSTEM, add_standard, build_lab, cylinder_input

T = Role.TECHNICIAN
R = Role.REVIEWER
A = Role.APPROVER
Q = Role.QUALITY_MANAGER
D = Role.ADMINISTRATOR
U = Role.AUDITOR
ALL = frozenset(Role)
DAY = date(2026, 3, 1)

Op = Callable[[Session, User, str], object]


def _rm(s: Session, tag: str) -> None:
    receive_reference_material(s, cylinder_input(tag))


def _std_out_of_service(s: Session, key: str) -> None:
    """A standard out of service whose member holds a valid certificate."""
    std_id, eq_id = add_standard(s, f"STD-{key}", f"EQ-{key}")
    s.add(
        ExternalCertificate(
            equipment_id=eq_id,
            issuer="NIM",
            number=f"N-{key}",
            calibrated_on=date(2026, 1, 5),
            issued_on=date(2026, 1, 8),
            valid_until=date(2027, 1, 4),
        )
    )
    std = s.get(MeasurementStandard, std_id)
    assert std is not None
    std.status = EquipmentStatus.OUT_OF_SERVICE
    std.status_reason = "repair"


def _first_user_id(s: Session) -> int:
    return int(s.scalars(select(User.id).order_by(User.id)).first() or 0)


def _account(s: Session, key: str) -> None:
    """A technician account named after the key, locked after failed logins."""
    user = create_user(s, key.lower(), key, PASSWORD, [Role.TECHNICIAN], POLICY)
    user.failed_logins = POLICY.lockout_threshold
    user.locked_at = datetime(2026, 2, 1, tzinfo=UTC)


def _incident(s: Session, key: str) -> None:
    s.add(
        Incident(
            occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
            category="system_failure",
            title=key,
            description="x",
            reported_by_id=_first_user_id(s),
        )
    )


def _impact(s: Session, key: str) -> None:
    _setup_std(s, key)
    s.add(
        ImpactAssessment(
            resource_tag=f"STD-{key}",
            resource_kind="standard",
            finding=key,
            found_on=DAY,
            since=None,
            opened_by_id=_first_user_id(s),
            affected={"runs": [], "certificates": []},
        )
    )


def _id_of(s: Session, model: type[Incident] | type[ImpactAssessment], key: str) -> int:
    column = Incident.title if model is Incident else ImpactAssessment.finding
    return int(s.scalars(select(model.id).where(column == key)).one())


def _setup_std(s: Session, key: str) -> None:
    add_standard(s, f"STD-{key}", f"EQ-{key}")


# Each operation: (setup with the system actor, the call, the roles that may do it).
OPERATIONS: dict[str, tuple[Callable[[Session, str], None] | None, Op, frozenset[Role]]] = {
    "record certificate": (
        _setup_std,
        lambda s, u, k: standards.record_external_certificate(
            s,
            u,
            Path("/nonexistent"),
            equipment_asset_tag=f"EQ-{k}",
            issuer="NIM",
            number=f"N-{k}",
            calibrated_on=DAY,
            issued_on=DAY,
            valid_until=date(2027, 3, 1),
        ),
        frozenset({Q}),
    ),
    "out of service": (
        _setup_std,
        lambda s, u, k: standards.take_out_of_service(s, u, f"STD-{k}", "drift"),
        frozenset({Q}),
    ),
    "intermediate check": (
        _setup_std,
        lambda s, u, k: standards.record_intermediate_check(
            s,
            u,
            f"STD-{k}",
            performed_on=DAY,
            quantity="flow",
            nominal=parse_quantity("1 L/min"),
            measured=parse_quantity("1.002 L/min"),
            limit=parse_quantity("0.005 L/min"),
        ),
        frozenset({T, Q}),
    ),
    "open material": (
        _rm,
        lambda s, u, k: materials.open_material(s, u, k, DAY),
        frozenset({T, Q}),
    ),
    "consume material": (
        _rm,
        lambda s, u, k: materials.record_consumption(s, u, k, parse_quantity("8 MPa"), DAY),
        frozenset({T, Q}),
    ),
    "dispose material": (
        _rm,
        lambda s, u, k: materials.dispose_material(s, u, k, DAY, "empty"),
        frozenset({Q}),
    ),
    "out-of-tolerance finding": (
        _setup_std,
        lambda s, u, k: trace.record_out_of_tolerance(
            s, u, f"STD-{k}", finding="drift", found_on=DAY
        ),
        frozenset({Q}),
    ),
    "proficiency test": (
        None,
        lambda s, u, k: proficiency.record_proficiency_test(
            s,
            u,
            scheme="CNAS T0123",
            measurand="CO2",
            lab_value=parse_quantity("401 umol/mol"),
            lab_uncertainty=parse_quantity("4 umol/mol"),
            reference_value=parse_quantity("400 umol/mol"),
            reference_uncertainty=parse_quantity("2 umol/mol"),
            performed_on=DAY,
        ),
        frozenset({Q}),
    ),
    "report incident": (
        None,
        lambda s, u, k: incidents.report_incident(
            s,
            u,
            category="system_failure",
            title="bench PC froze",
            description="x",
            occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        ),
        ALL - {U},
    ),
    "close incident": (
        _incident,
        lambda s, u, k: incidents.close_incident(s, u, _id_of(s, Incident, k), "restarted"),
        frozenset({Q}),
    ),
    "list incidents": (None, lambda s, u, k: incidents.list_incidents(s, u), ALL),
    "receive material": (
        None,
        lambda s, u, k: materials.receive_material(s, u, cylinder_input(f"RM-{k}")),
        frozenset({Q}),
    ),
    "mark expired": (None, lambda s, u, k: materials.mark_expired(s, u, DAY), frozenset({Q})),
    "back in service": (
        _std_out_of_service,
        lambda s, u, k: standards.return_to_service(s, u, f"STD-{k}", "repaired", DAY),
        frozenset({Q}),
    ),
    "calibration history": (
        _setup_std,
        lambda s, u, k: standards.calibration_history(s, u, f"STD-{k}"),
        ALL,
    ),
    "reverse trace": (_setup_std, lambda s, u, k: trace.reverse_trace(s, u, f"STD-{k}"), ALL),
    "close impact record": (
        _impact,
        lambda s, u, k: trace.close_impact(s, u, _id_of(s, ImpactAssessment, k), "no effect"),
        frozenset({Q}),
    ),
    "add user": (
        None,
        lambda s, u, k: accounts.add_user(
            s, u, f"new{k.lower()}", "新用户", PASSWORD, [Role.TECHNICIAN], POLICY
        ),
        frozenset({D}),
    ),
    "authorize for a procedure": (
        _account,
        lambda s, u, k: accounts.authorize(
            s, u, k.lower(), "jjg635", DAY, date(2027, 3, 1), competence_certificate="C-1"
        ),
        frozenset({Q}),
    ),
    "unlock account": (
        _account,
        lambda s, u, k: accounts.unlock_user(s, u, k.lower()),
        frozenset({D}),
    ),
    "deactivate account": (
        _account,
        lambda s, u, k: accounts.deactivate_user(s, u, k.lower()),
        frozenset({D}),
    ),
    "failed logins": (None, lambda s, u, k: accounts.failed_attempts(s, u), frozenset({Q, D})),
    "audit review": (None, lambda s, u, k: find_events(s, u), frozenset({Q, D, U})),
    "locked accounts": (None, lambda s, u, k: accounts.locked_accounts(s, u), frozenset({Q, D})),
    "due list": (None, lambda s, u, k: due_list(s, u, DAY), ALL),
}


def test_role_matrix_in_services(db: Database) -> None:
    lab = build_lab(db)
    outcome: dict[tuple[str, Role], bool] = {}
    messages: list[tuple[str, str]] = []
    for n, (name, (setup, call, _allowed)) in enumerate(sorted(OPERATIONS.items())):
        for role, user in sorted(lab.users.items()):
            key = f"K{n}{role.value[:4]}"
            if setup is not None:
                with db.write(actor=SYSTEM, reason="setup") as s:
                    setup(s, key)
            try:
                with db.write(actor=user, reason="role matrix") as s:
                    call(s, user, key)
            except PermissionDenied as exc:
                outcome[name, role] = False
                messages.append((user.username, str(exc)))
            else:
                outcome[name, role] = True
    expected = {
        (name, role): role in allowed
        for name, (_setup, _call, allowed) in OPERATIONS.items()
        for role in Role
    }
    wrong = sorted(k for k in expected if outcome[k] != expected[k])
    assert wrong == []
    # each refusal names the user and says "permission denied"
    assert all(u in m and "permission denied" in m for u, m in messages)


#: Permissions the services check elsewhere (signing, running, releasing tables, backups),
#: and the roles that hold them.
OTHER_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.RUN_PROCEDURE: frozenset({T}),
    Permission.SIGN_PERFORMED: frozenset({T}),
    Permission.SIGN_REVIEWED: frozenset({R}),
    Permission.SIGN_APPROVED: frozenset({A}),
    Permission.RELEASE_REGULATION_TABLE: frozenset({Q}),
    Permission.BACKUP: frozenset({D}),
    Permission.MANAGE_USERS: frozenset({D}),
    Permission.MANAGE_AUTHORIZATIONS: frozenset({Q}),
    Permission.VIEW_RECORDS: ALL,
}


def test_signing_running_and_admin_permissions_by_role(db: Database) -> None:
    lab = build_lab(db)
    got = {
        (p, role): can(user, p, DAY) for p in OTHER_PERMISSIONS for role, user in lab.users.items()
    }
    expected = {(p, role): role in roles for p, roles in OTHER_PERMISSIONS.items() for role in Role}
    assert sorted(k for k in expected if got[k] != expected[k]) == []


def test_backup_is_for_administrators_only(db: Database, tmp_path: Path) -> None:
    from lims.quality.backup import backup

    lab = build_lab(db)
    for role, user in sorted(lab.users.items()):
        target = tmp_path / f"{role.value}.zip"
        if role is D:
            backup(db, user, tmp_path / "archive", target)
            assert target.is_file()
        else:
            with pytest.raises(PermissionDenied, match="permission denied"):
                backup(db, user, tmp_path / "archive", target)
            assert not target.exists()


def test_auditor_is_read_only() -> None:
    from lims.quality.permissions import ROLE_PERMISSIONS

    assert ROLE_PERMISSIONS[Role.AUDITOR] == {Permission.VIEW_RECORDS, Permission.REVIEW_AUDIT}


def test_locked_or_expired_user_can_neither_sign_nor_run(db: Database) -> None:
    lab = build_lab(db, [T])
    tech = lab.users[T]
    require(tech, Permission.RUN_PROCEDURE, DAY)
    require(tech, Permission.SIGN_PERFORMED, DAY)
    tech.locked_at = datetime(2026, 2, 1, tzinfo=UTC)
    for p in (Permission.RUN_PROCEDURE, Permission.SIGN_PERFORMED):
        with pytest.raises(PermissionDenied, match="locked"):
            require(tech, p, DAY)
    tech.locked_at = None
    tech.valid_until = date(2026, 2, 28)
    for p in (Permission.RUN_PROCEDURE, Permission.SIGN_PERFORMED):
        with pytest.raises(PermissionDenied, match="expired"):
            require(tech, p, DAY)


def test_denied_call_changes_nothing(db: Database) -> None:
    lab = build_lab(db, [U])
    with db.write(actor=SYSTEM, reason="setup") as s:
        _setup_std(s, "Z")
    from lims.models import AuditEvent, MeasurementStandard

    with db.read() as s:
        before = s.query(AuditEvent).count()
    with pytest.raises(PermissionDenied), db.write(actor=lab.users[U], reason="try") as s:
        standards.take_out_of_service(s, lab.users[U], "STD-Z", "drift")
    with db.read() as s:
        assert s.query(AuditEvent).count() == before
        assert s.query(MeasurementStandard).filter_by(tag="STD-Z").one().status.value == "active"
