"""Audit review (Annex 11 §9): filters by record, user and time, and the CSV export."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest

from lims.db import Database
from lims.db.types import utcnow
from lims.models import Customer, Role
from lims.quality.audit_review import find_events, parse_record, write_csv
from lims.quality.errors import PermissionDenied, QualityError
from tests.quality._build import build_lab


def test_filters_and_csv_export(db: Database, tmp_path: Path) -> None:
    lab = build_lab(db, [Role.TECHNICIAN, Role.AUDITOR])
    tech, auditor = lab.users[Role.TECHNICIAN], lab.users[Role.AUDITOR]
    t0 = utcnow()
    with db.write(actor=tech, reason="customer moved 搬迁") as s:
        c = s.get(Customer, lab.customer_id)
        assert c is not None
        c.address = "天津市"
    with db.read() as s:
        record = find_events(s, auditor, record=parse_record(f"customers:{lab.customer_id}"))
        assert [e.action for e in record] == ["create", "update"]
        mine = find_events(s, auditor, user="technician")
        assert [(e.table_name, e.action) for e in mine] == [("customers", "update")]
        at = mine[0].occurred_at
        assert mine[0].id in [e.id for e in find_events(s, auditor, start=at)]
        assert mine[0].id not in [e.id for e in find_events(s, auditor, end=at)]  # exclusive
        assert find_events(s, auditor, end=t0 - timedelta(days=1)) == []
        with pytest.raises(QualityError, match="after --from"):
            find_events(s, auditor, start=t0, end=t0)
        with pytest.raises(PermissionDenied):
            find_events(s, tech)
        assert write_csv(record, tmp_path / "trail.csv") == 2
        sha = record[1].sha256
    with (tmp_path / "trail.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["action"] for r in rows] == ["create", "update"]
    assert rows[1]["actor"] == "technician"
    assert rows[1]["reason"] == "customer moved 搬迁"
    assert '"address":[' in rows[1]["changes"]
    assert "天津市" in rows[1]["changes"]
    assert rows[1]["sha256"] == sha
    with pytest.raises(QualityError, match="TABLE:ID"):
        parse_record("customers")
