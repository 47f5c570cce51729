"""Creating or upgrading a lab database: schema, lab profile, first administrator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

import lims.audit  # noqa: F401  (installs the audit hooks: every database opened here audits)
from lims.account_policy import PasswordPolicy
from lims.config import Settings
from lims.db import Database
from lims.db.migrate import upgrade
from lims.lab_time import DEFAULT_TIME_ZONE
from lims.models.enums import Role
from lims.models.lab import LabProfile
from lims.models.users import User

SYSTEM_INIT = "system:init"


@dataclass(frozen=True)
class LabIdentity:
    """What the lab profile needs at creation."""

    name_zh: str
    name_en: str
    address_zh: str = ""
    address_en: str = ""
    accreditation_number: str = ""
    certificate_prefix: str = "CM"
    city: str = ""
    email: str = ""
    phone: str = ""
    time_zone: str = DEFAULT_TIME_ZONE


def lab_time_zone(session: Session) -> str:
    """The lab's IANA time zone: its calendar days (visits, run and issue dates) are in it."""
    lab = session.scalars(select(LabProfile)).first()
    return lab.time_zone if lab is not None else DEFAULT_TIME_ZONE


def policy_from(settings: Settings) -> PasswordPolicy:
    """The password policy configured in the settings."""
    return PasswordPolicy(
        min_length=settings.password_min_length,
        max_age_days=settings.password_max_age_days,
        lockout_threshold=settings.lockout_threshold,
    )


def open_database(settings: Settings) -> Database:
    """Open the configured database (creating the data directory for SQLite).

    Only what makes a lab (``lims init``, ``lims db upgrade``, ``lims restore``) opens a
    database this way; everything else uses :func:`open_lab`.
    """
    if settings.url.get_backend_name() == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Database(
        settings.url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, require_reason=True
    )


class NoLabError(LookupError):
    """There is no lab at the configured location (nothing was created there)."""


NO_LAB_HINT = (
    "set LIMS_DATA_DIR or LIMS_DATABASE_URL to the lab's location, or create one with `lims init`"
)


def open_lab(settings: Settings) -> Database:
    """Open an existing lab; :class:`NoLabError` when there is none at the configured location.

    Creates nothing: no data directory, no empty SQLite file. As with
    :func:`open_database`, every change written through it must carry a reason
    (EU GMP Annex 11 §9): one without is refused, not stored.
    """
    url = settings.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_file():
            raise NoLabError(f"there is no lab at {path}: {NO_LAB_HINT}")
    db = Database(url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, require_reason=True)
    try:
        has_schema = inspect(db.engine).has_table("alembic_version")
    except BaseException:
        db.dispose()
        raise
    if not has_schema:
        db.dispose()
        raise NoLabError(f"there is no lab in {settings.redacted_url()}: {NO_LAB_HINT}")
    return db


def initialize(
    db: Database,
    settings: Settings,
    lab: LabIdentity,
    admin_username: str,
    admin_full_name: str,
    admin_password: str,
    *,
    ca_password: str | None = None,
) -> bool:
    """Upgrade the schema; create the lab profile and first administrator if absent.

    With ``ca_password``, also create the lab's certificate authority (its key
    encrypted with that passphrase) and issue the administrator a signing key.
    Returns True when the lab was created now, False when it existed already.
    """
    from lims.services.signing_keys import create_authority, issue_credentials
    from lims.services.users import create_user

    upgrade(db.engine)
    with db.read() as s:
        if s.scalar(select(func.count()).select_from(LabProfile)):
            return False
    with db.write(actor=SYSTEM_INIT, reason="lims init") as s:
        s.add(
            LabProfile(
                name_zh=lab.name_zh,
                name_en=lab.name_en,
                address_zh=lab.address_zh,
                address_en=lab.address_en,
                accreditation_number=lab.accreditation_number,
                certificate_prefix=lab.certificate_prefix,
                city=lab.city,
                email=lab.email,
                phone=lab.phone,
                time_zone=lab.time_zone,
            )
        )
        admin = create_user(
            s,
            admin_username,
            admin_full_name,
            admin_password,
            [Role.ADMINISTRATOR],
            policy_from(settings),
        )
        if ca_password is not None:
            create_authority(s, f"{lab.name_en} Root CA", lab.name_en, ca_password)
            issue_credentials(s, admin, admin_password, ca_password)
    return True


def lab_summary(db: Database) -> dict[str, int]:
    """How many records of each main kind the database holds."""
    from lims import models as m

    kinds = {
        "users": m.User,
        "customers": m.Customer,
        "equipment": m.Equipment,
        "measurement standards": m.MeasurementStandard,
        "reference materials": m.ReferenceMaterial,
        "work orders": m.WorkOrder,
        "work-order items": m.WorkOrderItem,
        "runs": m.Run,
        "certificates": m.Certificate,
        "audit events": m.AuditEvent,
    }
    with db.read() as s:
        return {
            label: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for label, model in kinds.items()
        }


def existing_user_count(db: Database) -> int:
    """Number of users (0 on a fresh database)."""
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(User)) or 0)
