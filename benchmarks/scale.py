"""Scale benchmark: bulk-generate certificates and readings, then time the searches.

    uv run python benchmarks/scale.py --url postgresql+psycopg://postgres@127.0.0.1/bench
    uv run python benchmarks/scale.py --url sqlite:////tmp/bench.sqlite3 --scale 0.01

Full scale is 1,000,000 certificates and 20,000,000 readings on PostgreSQL and
100,000 / 2,000,000 on SQLite; ``--scale`` multiplies both. The target database
must be empty; it is migrated to head first. Rows are bulk-loaded (COPY on
PostgreSQL, executemany in large transactions on SQLite) straight into the
tables: this is synthetic data for timing queries, so it bypasses the audit
trail on purpose (``lims audit verify`` would flag it). Prints p50/p95 of a
certificate search by serial number, by customer and date range, and of a
reverse trace through the service function.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, text

from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import (
    Certificate,
    Customer,
    Equipment,
    MeasurementStandard,
    Reading,
    Role,
    Run,
    RunResource,
    User,
    UserRole,
    WorkOrder,
    WorkOrderItem,
)
from lims.quality.trace import reverse_trace

T0 = datetime(2020, 1, 1, tzinfo=UTC)
READINGS_PER_CERT = 20


def _load(
    db: Database, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    n = 0
    if db.is_sqlite:
        batch: list[dict[str, Any]] = []
        with db.engine.begin() as conn:
            for row in rows:
                batch.append(dict(zip(columns, row, strict=True)))
                if len(batch) == 50_000:
                    conn.execute(insert(table), batch)
                    n += len(batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
                n += len(batch)
        return n
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
                n += 1
        raw.commit()
    finally:
        raw.close()
    return n


def generate(db: Database, n_certs: int, seed: int = 1) -> dict[str, Any]:
    """Fill the database; returns what the timed queries need."""
    rnd = random.Random(seed)
    n_customers = max(10, n_certs // 1000)
    n_equipment = max(10, n_certs // 2)  # each instrument comes back about twice
    n_standards = max(5, n_certs // 5000)
    n_rms = max(20, n_certs // 500)
    now = T0
    _load(
        db,
        User.__table__,
        [
            "id",
            "username",
            "full_name",
            "full_name_en",
            "password_hash",
            "password_changed_at",
            "active",
            "failed_logins",
            "created_at",
        ],
        [(1, "bench", "bench", "", "x", now, True, 0, now)],
    )
    _load(
        db,
        Customer.__table__,
        ["id", "name", "address", "notes", "created_at"],
        ((i, f"客户 Customer {i:05d}", "", "", now) for i in range(1, n_customers + 1)),
    )
    owner = [rnd.randint(1, n_customers) for _ in range(n_equipment + 1)]
    _load(
        db,
        Equipment.__table__,
        [
            "id",
            "kind",
            "description",
            "manufacturer",
            "model",
            "serial_number",
            "accuracy",
            "owner_customer_id",
            "location",
            "status",
            "status_reason",
            "created_at",
        ],
        (
            (
                i,
                "gas_analyzer",
                "NDIR",
                "Sim",
                "CA-2000",
                f"SN{i:08d}",
                "",
                owner[i],
                "",
                "active",
                "",
                now,
            )
            for i in range(1, n_equipment + 1)
        ),
    )
    _load(
        db,
        MeasurementStandard.__table__,
        [
            "id",
            "tag",
            "name_zh",
            "name_en",
            "approval_certificate",
            "measurand",
            "range_text",
            "uncertainty_text",
            "status",
            "status_reason",
            "intermediate_check_interval_days",
            "created_at",
        ],
        (
            (i, f"STD-{i:04d}", "标准", "standard", "", "", "", "", "active", "", 180, now)
            for i in range(1, n_standards + 1)
        ),
    )
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO procedures (id, title_zh, title_en, kind, regulation, "
                "created_at) VALUES ('jjg635', 't', 't', 'verification', 'JJG 635', "
                ":t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO regulation_tables (id, procedure_id, version, sha256, "
                "content, source, has_unverified, status, created_at) VALUES "
                "(1, 'jjg635', '1', 'a', 'x', '', false, 'released', :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO procedure_versions (id, procedure_id, version, "
                "source_sha256, regulation_table_id, created_at) VALUES "
                "(1, 'jjg635', '1', 'b', 1, :t)"
            ),
            {"t": now},
        )
    days = [now + timedelta(minutes=i * (6 * 365 * 24 * 60) // n_certs) for i in range(n_certs)]
    eq_of = [rnd.randint(1, n_equipment) for _ in range(n_certs)]
    _load(
        db,
        WorkOrder.__table__,
        ["id", "number", "customer_id", "received_on", "status", "notes", "created_at"],
        (
            (i, f"WO{i:08d}", owner[eq_of[i - 1]], days[i - 1].date(), "completed", "", now)
            for i in range(1, n_certs + 1)
        ),
    )
    _load(
        db,
        WorkOrderItem.__table__,
        [
            "id",
            "work_order_id",
            "equipment_id",
            "service",
            "procedure_id",
            "condition_on_receipt",
            "status",
            "created_at",
        ],
        (
            (i, i, eq_of[i - 1], "verification", "jjg635", "", "certified", now)
            for i in range(1, n_certs + 1)
        ),
    )
    _load(
        db,
        Run.__table__,
        [
            "id",
            "procedure_version_id",
            "work_order_item_id",
            "operator_id",
            "bench_name",
            "bench_sha256",
            "simulated",
            "practice",
            "status",
            "status_reason",
            "started_at",
            "environment",
            "provenance",
            "parameters",
            "created_at",
        ],
        (
            (
                i,
                1,
                i,
                1,
                "bench-1",
                "",
                False,
                False,
                "completed",
                "",
                days[i - 1],
                "{}",
                "{}",
                "{}",
                days[i - 1],
            )
            for i in range(1, n_certs + 1)
        ),
    )
    resources: list[tuple[Any, ...]] = []
    rid = 0
    for i in range(1, n_certs + 1):
        std = rnd.randint(1, n_standards)
        rm = rnd.randint(1, n_rms)
        for kind, res, tag in (
            ("standard", std, f"STD-{std:04d}"),
            ("reference_material", rm, f"RM-{rm:05d}"),
        ):
            rid += 1
            resources.append((rid, i, kind, res, tag, "", days[i - 1]))
    _load(
        db,
        RunResource.__table__,
        ["id", "run_id", "kind", "resource_id", "tag", "certificate_number", "created_at"],
        resources,
    )
    _load(
        db,
        Certificate.__table__,
        [
            "id",
            "number",
            "year",
            "sequence",
            "type",
            "status",
            "revision",
            "run_id",
            "content_sha256",
            "issued_at",
            "valid_until",
            "status_reason",
            "created_at",
        ],
        (
            (
                i,
                f"CM{days[i - 1].year}-{i:07d}",
                days[i - 1].year,
                i,
                "verification_certificate",
                "issued",
                0,
                i,
                "c" * 64,
                days[i - 1] + timedelta(days=2),
                days[i - 1].date() + timedelta(days=365),
                "",
                days[i - 1],
            )
            for i in range(1, n_certs + 1)
        ),
    )

    def readings() -> Iterable[tuple[Any, ...]]:
        rid = 0
        for run in range(1, n_certs + 1):
            for seq in range(1, READINGS_PER_CERT + 1):
                rid += 1
                yield (
                    rid,
                    run,
                    seq,
                    "indication",
                    "400",
                    "x_CO2",
                    400.0 + seq / 10,
                    "micromole / mole",
                    days[run - 1],
                    "analyzer",
                    "0" * 64,
                )

    _load(
        db,
        Reading.__table__,
        [
            "id",
            "run_id",
            "seq",
            "step",
            "test_point",
            "quantity",
            "magnitude",
            "unit",
            "taken_at",
            "source",
            "chain_sha256",
        ],
        readings(),
    )
    if not db.is_sqlite:
        with db.engine.begin() as conn:
            for t in (
                "users",
                "customers",
                "equipment",
                "measurement_standards",
                "work_orders",
                "work_order_items",
                "runs",
                "run_resources",
                "certificates",
                "readings",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                        f"(SELECT max(id) FROM {t}))"
                    )
                )
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return {
        "n_customers": n_customers,
        "n_equipment": n_equipment,
        "n_standards": n_standards,
        "n_rms": n_rms,
    }


def _timed(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    samples = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(samples, n=20)
    return statistics.median(samples), q[18]


def main() -> None:
    """Parse arguments, generate, time and print."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", required=True, help="an EMPTY database (sqlite:///... or postgresql)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    db = Database(args.url)
    full = 100_000 if db.is_sqlite else 1_000_000
    n_certs = max(1000, int(full * args.scale))
    upgrade(db.engine)
    with db.read() as s:
        if s.scalar(select(func.count()).select_from(Certificate)):
            raise SystemExit("the benchmark database must be empty")
    t = time.perf_counter()
    info = generate(db, n_certs)
    load_s = time.perf_counter() - t
    print(
        f"backend {db.engine.dialect.name}, scale {args.scale}: {n_certs:,} certificates, "
        f"{n_certs * READINGS_PER_CERT:,} readings, {info['n_customers']:,} customers, "
        f"{info['n_standards']} standards, {info['n_rms']} reference materials; "
        f"loaded in {load_s:.1f} s"
    )
    rnd = random.Random(7)
    auditor = User(
        username="bench",
        full_name="bench",
        password_hash="x",
        password_changed_at=T0,
        active=True,
        failed_logins=0,
    )
    auditor.roles = [UserRole(role=Role.AUDITOR)]
    with db.read() as s:

        def by_serial(_i: int) -> object:
            sn = f"SN{rnd.randint(1, info['n_equipment']):08d}"
            return s.execute(
                select(Certificate.number, Certificate.issued_at)
                .join(Run, Run.id == Certificate.run_id)
                .join(WorkOrderItem, WorkOrderItem.id == Run.work_order_item_id)
                .join(Equipment, Equipment.id == WorkOrderItem.equipment_id)
                .where(Equipment.serial_number == sn)
            ).all()

        def by_customer(_i: int) -> object:
            cid = rnd.randint(1, info["n_customers"])
            start = T0 + timedelta(days=rnd.randint(0, 5 * 365))
            return s.execute(
                select(Certificate.number, Certificate.issued_at)
                .join(Run, Run.id == Certificate.run_id)
                .join(WorkOrderItem, WorkOrderItem.id == Run.work_order_item_id)
                .join(WorkOrder, WorkOrder.id == WorkOrderItem.work_order_id)
                .where(
                    WorkOrder.customer_id == cid,
                    Certificate.issued_at >= start,
                    Certificate.issued_at < start + timedelta(days=365),
                )
                .order_by(Certificate.issued_at)
            ).all()

        def trace(_i: int) -> object:
            tag = f"RM-{rnd.randint(1, info['n_rms']):05d}"
            return reverse_trace(s, auditor, tag, since=date(2024, 1, 1))

        for label, fn in (
            ("certificate search by serial number", by_serial),
            ("certificate search by customer + 1-year range", by_customer),
            ("reverse trace of a reference material (since 2024)", trace),
        ):
            p50, p95 = _timed(fn, args.queries)
            print(f"{label:<52} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    db.dispose()


if __name__ == "__main__":
    main()
