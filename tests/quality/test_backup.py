"""Backup → restore into an empty database reproduces every record and file, verified."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lims.audit import append_readings, verify
from lims.db import Database
from lims.db.base import Base
from lims.models import (
    DatabaseIdentity,
    LabAuthority,
    Role,
    SigningCredential,
    StoredFile,
    User,
)
from lims.quality.archive import archive_path, file_sha256
from lims.quality.backup import RESTORE_ACTOR, BackupError, backup, dump_rows, restore
from lims.quality.standards import record_external_certificate
from tests.conftest import pg_available
from tests.quality._build import (
    SYSTEM,
    add_certificate,
    add_run,
    add_standard,
    build_lab,
    detached,
)


def _populate(db: Database, archive: Path, tmp: Path) -> None:
    lab = build_lab(db, [Role.TECHNICIAN, Role.QUALITY_MANAGER, Role.ADMINISTRATOR])
    with db.write(actor=SYSTEM, reason="fixture") as s:
        add_standard(s, "STD-1", "EQ-1")
        run = add_run(s, lab, date(2026, 2, 1), ["STD-1"], serial="S1")
        add_certificate(s, run, valid_until=date(2027, 2, 1))
        t0 = datetime(2026, 2, 1, 9, tzinfo=UTC)
        append_readings(
            s,
            run,
            [
                {
                    "seq": i,
                    "step": "indication",
                    "test_point": "400",
                    "quantity": "x_CO2",
                    "magnitude": 400 + i / 7,
                    "unit": "micromole / mole",
                    "taken_at": t0 + timedelta(seconds=i),
                    "source": "analyzer",
                }
                for i in range(1, 51)
            ],
        )
        # Binary columns: a stored certificate PDF and a user's PKCS#12 signing key.
        pdf_bytes = b"%PDF-1.7\n\x00\xff\xfe binary \x89PNG\r\n" + bytes(range(256))
        s.add(
            StoredFile(
                sha256=hashlib.sha256(pdf_bytes).hexdigest(),
                media_type="application/pdf",
                size=len(pdf_bytes),
                data=pdf_bytes,
            )
        )
        ca = LabAuthority(
            common_name="Test Lab CA",
            certificate_pem="-----BEGIN CERTIFICATE-----\nx\n",
            encrypted_key_pem="-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n",
            fingerprint_sha256="f" * 64,
        )
        s.add(ca)
        s.flush()
        s.add(
            SigningCredential(
                user_id=lab.users[Role.TECHNICIAN].id,
                authority_id=ca.id,
                pkcs12=b"0\x82\x0a\x00" + bytes(range(255, -1, -1)),
                certificate_pem="-----BEGIN CERTIFICATE-----\ny\n",
                fingerprint_sha256="e" * 64,
                not_after=datetime(2028, 1, 1, tzinfo=UTC),
            )
        )
    pdf = tmp / "nim.pdf"
    pdf.write_bytes(b"%PDF-1.7 calibration certificate of EQ-1 \xe6\xa0\x87\n")
    qm = lab.users[Role.QUALITY_MANAGER]
    with db.write(actor=qm, reason="certificate received") as s:
        record_external_certificate(
            s,
            qm,
            archive,
            equipment_asset_tag="EQ-1",
            issuer="中国计量科学研究院 NIM",
            number="NIM-2026-1",
            calibrated_on=date(2026, 1, 5),
            issued_on=date(2026, 1, 8),
            valid_until=date(2027, 1, 4),
            file=pdf,
            values=[{"quantity": "flow", "value": 1.0012, "unit": "L/min", "U": 0.002, "k": 2}],
        )


def _snapshot(db: Database) -> dict[str, list[dict[str, object]]]:
    with db.engine.connect() as conn:
        # a database's own identity stays with it (not backed up): compared apart
        return {
            t.name: list(dump_rows(conn, t))
            for t in Base.metadata.sorted_tables
            if t.info.get("backup", True)
        }


def _identity(db: Database) -> str:
    with db.read() as s:
        row = s.get(DatabaseIdentity, 1)
        assert row is not None
        return row.uid


def _round_trip(source: Database, target: Database, tmp_path: Path) -> None:
    archive_a, archive_b = tmp_path / "a", tmp_path / "b"
    _populate(source, archive_a, tmp_path)
    admin = build_admin(source)
    target_file = tmp_path / "lims-backup.zip"
    manifest = backup(source, admin, archive_a, target_file)
    before = _snapshot(source)
    assert manifest.tables["readings"]["rows"] == 50
    assert len(manifest.files) == 1
    report = restore(target, archive_b, target_file)
    after = _snapshot(target)
    assert _identity(target) != _identity(source)
    # the backup event is written after the snapshot: everything before it is reproduced,
    # then the restore is recorded, chained after the restored trail
    *restored, restore_event = after["audit_events"]
    assert restored == before["audit_events"][: len(restored)]
    assert len(restored) == len(before["audit_events"]) - 1
    assert restore_event["action"] == "restore"
    assert restore_event["actor"] == RESTORE_ACTOR
    assert restore_event["prev_sha256"] == restored[-1]["sha256"]
    assert restore_event["state"]["sha256"] == file_sha256(target_file)
    with target.read() as s:
        assert verify(s).ok
    for name in before:
        if name not in {"audit_events", "audit_head"}:
            assert after[name] == before[name], name
    assert report.rows["readings"] == 50
    assert report.rows["stored_files"] == 1
    assert report.rows["signing_credentials"] == 1
    # binary columns come back byte for byte (not just their hash)
    with source.read() as s1, target.read() as s2:
        for model, col in ((StoredFile, "data"), (SigningCredential, "pkcs12")):
            a = [getattr(r, col) for r in s1.query(model).all()]
            b = [getattr(r, col) for r in s2.query(model).all()]
            assert a == b, model
            assert all(isinstance(x, bytes) and len(x) > 256 for x in b), model
    sha = next(iter(manifest.files))
    assert file_sha256(archive_path(archive_b, sha)) == sha
    assert archive_path(archive_b, sha).read_bytes() == archive_path(archive_a, sha).read_bytes()
    # a second restore into the now non-empty database is refused and changes nothing
    with pytest.raises(BackupError, match="not empty"):
        restore(target, archive_b, target_file)
    assert _snapshot(target) == after


def build_admin(db: Database) -> User:
    """The administrator of the test lab, detached."""
    with db.read() as s:
        uid = s.query(User).filter_by(username="administrator").one().id
    return detached(db, uid)


def test_backup_restore_same_backend(db: Database, db_url: str, tmp_path: Path) -> None:
    if db.is_sqlite:
        target = Database(f"sqlite:///{tmp_path / 'restored.sqlite3'}")
    else:
        target = Database(str(_fresh_pg(tmp_path, db_url)))
    try:
        _round_trip(db, target, tmp_path)
    finally:
        target.dispose()


def _fresh_pg(tmp_path: Path, db_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL

    schema = f"restore_{abs(hash(str(tmp_path))) % 10**8}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    _cleanup.append(schema)
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


_cleanup: list[str] = []


@pytest.fixture(autouse=True)
def _drop_restore_schemas() -> object:
    yield
    if _cleanup:
        from sqlalchemy import create_engine, text

        from tests.conftest import PG_URL

        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for schema in _cleanup:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        _cleanup.clear()


def test_backup_sqlite_restore_postgresql(tmp_path: Path) -> None:
    if pg_available() is not None:
        pytest.skip(str(pg_available()))
    from lims.db.migrate import upgrade

    source = Database(f"sqlite:///{tmp_path / 'src.sqlite3'}")
    upgrade(source.engine)
    target = Database(_fresh_pg(tmp_path, ""))
    try:
        _round_trip(source, target, tmp_path)
    finally:
        source.dispose()
        target.dispose()


def test_damaged_backup_is_refused(db: Database, tmp_path: Path) -> None:
    archive = tmp_path / "a"
    _populate(db, archive, tmp_path)
    good = tmp_path / "good.zip"
    backup(db, build_admin(db), archive, good)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "tables/certificates.jsonl":
                data = data.replace(b"2027-02-01", b"2028-02-01")
            zout.writestr(info, data)
    target = Database(f"sqlite:///{tmp_path / 'restored.sqlite3'}")
    try:
        with pytest.raises(BackupError, match="certificates does not match its hash"):
            restore(target, tmp_path / "b", bad)
        assert not (tmp_path / "b").exists()
    finally:
        target.dispose()


def test_backup_and_restore_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from lims.cli.main import app
    from lims.config import load_settings
    from lims.db.migrate import upgrade
    from tests.quality._build import PASSWORD

    src_dir, dst_dir = tmp_path / "src", tmp_path / "dst"
    src_dir.mkdir()
    dst_dir.mkdir()
    src_url = f"sqlite:///{src_dir / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(src_dir))
    monkeypatch.setenv("LIMS_DATABASE_URL", src_url)
    source = Database(src_url)
    upgrade(source.engine)
    _populate(source, load_settings().archive_dir, tmp_path)
    before = _snapshot(source)
    source.dispose()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    runner = CliRunner()
    file = tmp_path / "b.zip"
    auth = ["--password-file", str(pw)]
    out = runner.invoke(app, ["backup", str(file), "--user", "technician", *auth])
    assert out.exit_code != 0  # administrators only
    assert "permission denied" in str(out.exception)
    assert not file.exists()
    out = runner.invoke(app, ["audit", "anchor"])  # the anchors go into the backup
    assert out.exit_code == 0, out.output
    anchors = (src_dir / "audit-anchors.jsonl").read_text(encoding="utf-8")
    source = Database(src_url)
    before = _snapshot(source)  # anchored: the anchor count is a record too
    source.dispose()
    out = runner.invoke(app, ["backup", str(file), "--user", "administrator", *auth])
    assert out.exit_code == 0, out.output
    assert "1 files, 1 anchors" in out.output
    # restore into an empty database in another data directory
    dst_url = f"sqlite:///{dst_dir / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(dst_dir))
    monkeypatch.setenv("LIMS_DATABASE_URL", dst_url)
    out = runner.invoke(app, ["restore", str(file)])
    assert out.exit_code == 0, out.output
    assert "restored and verified" in out.output
    # the anchors came back with the data: the restored trail is confirmed against them
    assert (dst_dir / "audit-anchors.jsonl").read_text(encoding="utf-8") == anchors
    out = runner.invoke(app, ["audit", "verify"])
    assert out.exit_code == 0, out.output
    assert "1 anchors" in out.output
    assert "audit trail intact" in out.output
    target = Database(dst_url)
    try:
        after = _snapshot(target)
    finally:
        target.dispose()
    for name in before:
        if name not in {"audit_events", "audit_head"}:
            assert after[name] == before[name], name
    *restored, restore_event = after["audit_events"]
    assert restored == before["audit_events"]
    assert (restore_event["action"], restore_event["record_id"]) == ("restore", file.name)
    (sha,) = [r["file_sha256"] for r in after["external_certificates"]]
    restored = archive_path(load_settings().archive_dir, sha)
    assert file_sha256(restored) == sha


def test_a_consistently_forged_backup_is_refused_by_the_verification(
    db: Database, tmp_path: Path
) -> None:
    """A backup whose table file and manifest hash were both rewritten passes the file check;
    the streamed verification of the restored trail refuses it, and nothing is kept."""
    import hashlib
    import json

    archive = tmp_path / "a"
    _populate(db, archive, tmp_path)
    good = tmp_path / "good.zip"
    backup(db, build_admin(db), archive, good)
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(good) as zin:
        members = {info.filename: zin.read(info) for info in zin.infolist()}
    name = "tables/certificates.jsonl"
    members[name] = members[name].replace(b"2027-02-01", b"2028-02-01")
    assert members[name] != _member(good, name)
    manifest = json.loads(members["manifest.json"])
    manifest["tables"]["certificates"]["sha256"] = hashlib.sha256(members[name]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(forged, "w") as zout:
        for filename, data in members.items():
            zout.writestr(filename, data)
    target = Database(f"sqlite:///{tmp_path / 'restored.sqlite3'}")
    try:
        with pytest.raises(BackupError, match="certificates") as refused:
            restore(target, tmp_path / "b", forged)
        assert "does not match its hash" not in str(refused.value)  # the file check passed
        assert "changed outside the app" in str(refused.value)
        assert not (tmp_path / "b").exists()
        from sqlalchemy import func, inspect, select

        from lims.models import Certificate

        if inspect(target.engine).has_table("certificates"):  # rolled back, not half restored
            with target.read() as s:
                assert s.scalar(select(func.count()).select_from(Certificate)) == 0
    finally:
        target.dispose()


def _member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as zin:
        return zin.read(name)
