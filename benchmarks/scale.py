"""Scale benchmark: bulk-generate certificates and readings, then time the searches.

    createdb -h 127.0.0.1 -U postgres lims_scale
    uv run python benchmarks/scale.py --url postgresql+psycopg://postgres@127.0.0.1/lims_scale
    dropdb -h 127.0.0.1 -U postgres lims_scale
    uv run python benchmarks/scale.py --url sqlite:////tmp/lims_scale.sqlite3

Full scale is 1,000,000 certificates and 20,000,000 readings on PostgreSQL and
100,000 / 2,000,000 on SQLite; ``--scale`` multiplies both. The target database
must be empty; it is migrated to head first. Rows are bulk-loaded (COPY on
PostgreSQL, executemany in large transactions on SQLite) straight into the
tables: this is synthetic data for timing queries, so it bypasses the audit
trail on purpose (``lims audit verify`` would flag it; the readings' insert guard,
which wants their chain events, is dropped meanwhile and created again).

Each certificate carries a full-size content record (the example certificate's,
about 5 kB, with its own number, customer and serial number) and the customer and
instrument denormalized onto it. Every 100th certificate is an amendment that
supersedes the previous one of the same instrument, every 250th was rejected, and
the newest 0.1 % are still drafts waiting for signatures.

Prints the rows generated and the load time, then p50/p95 (ms, over ``--queries``
random queries each) of :func:`lims.quality.certificate_search.search_certificates`
by serial number, by customer (name part, and id) with a one-year range, of the
unfiltered newest-first page, and of :func:`lims.quality.trace.reverse_trace`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import JSON, Table, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lims.certificates.examples import example_document
from lims.db import Database
from lims.db.base import Base
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
from lims.quality.certificate_search import search_certificates
from lims.quality.trace import reverse_trace
from migrations.guards import drop_chain_event_requirement, require_chain_event

T0 = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_DAYS = 6 * 365
READINGS_PER_CERT = 20
TABLES = (
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
)

_started = time.perf_counter()


def _say(message: str) -> None:
    print(f"[{time.perf_counter() - _started:8.1f} s] {message}", flush=True)


def _load(
    db: Database, model: type[Base], columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Bulk-insert rows into ``model``'s table; JSON columns are given as JSON text."""
    table = cast(Table, model.__table__)
    n = 0
    t = time.perf_counter()
    if db.is_sqlite:
        json_cols = {c for c in columns if isinstance(table.c[c].type, JSON)}
        batch: list[dict[str, Any]] = []
        with db.engine.begin() as conn:
            for row in rows:
                values = dict(zip(columns, row, strict=True))
                for c in json_cols:
                    values[c] = json.loads(values[c])
                batch.append(values)
                if len(batch) == 50_000:
                    conn.execute(insert(table), batch)
                    n += len(batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
                n += len(batch)
    else:
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            with cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
                    n += 1
            raw.commit()
        finally:
            raw.close()
    _say(f"{table.name}: {n:,} rows in {time.perf_counter() - t:.1f} s")
    return n


def _content_template() -> str:
    """The example certificate's content record with placeholders for what varies."""
    record = example_document().content_record()
    record["number"] = "@@NUMBER@@"
    record["customer"]["name"] = "@@CUSTOMER@@"
    record["item"]["serial_number"] = "@@SERIAL@@"
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _customer_name(i: int) -> str:
    return f"客户 Customer {i:05d}"


def _serial(i: int) -> str:
    return f"SN{i:08d}"


def _cert_status(i: int, n_certs: int, n_drafts: int) -> str:
    if i > n_certs - n_drafts:
        return ("draft", "performed", "reviewed")[i % 3]
    if i % 250 == 125:
        return "rejected"
    if (i + 1) % 100 == 0 and i + 1 <= n_certs - n_drafts:
        return "superseded"  # its amendment is certificate i + 1
    return "issued"


def sizes(n_certs: int) -> dict[str, int]:
    """How many customers, instruments, standards and reference materials go with ``n_certs``."""
    return {
        "n_customers": max(10, n_certs // 1000),
        "n_equipment": max(10, n_certs // 2),  # each instrument comes back about twice
        "n_standards": max(5, n_certs // 5000),
        "n_rms": max(20, n_certs // 500),
    }


def generate(db: Database, n_certs: int, seed: int = 1) -> dict[str, int]:
    """Fill the database; returns what the timed queries need."""
    rnd = random.Random(seed)
    info = sizes(n_certs)
    n_customers, n_equipment = info["n_customers"], info["n_equipment"]
    n_standards, n_rms = info["n_standards"], info["n_rms"]
    n_drafts = max(5, n_certs // 1000)
    now = T0
    _load(
        db,
        User,
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
        Customer,
        ["id", "name", "address", "notes", "created_at"],
        ((i, _customer_name(i), "", "", now) for i in range(1, n_customers + 1)),
    )
    owner = [rnd.randint(1, n_customers) for _ in range(n_equipment + 1)]
    _load(
        db,
        Equipment,
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
                "二氧化碳红外气体分析器 CO2 infrared gas analyzer",
                "Sim",
                "CA-2000",
                _serial(i),
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
        MeasurementStandard,
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
    step = timedelta(minutes=SPAN_DAYS * 24 * 60 / n_certs)
    days = [now + i * step for i in range(n_certs)]
    eq_of = [rnd.randint(1, n_equipment) for _ in range(n_certs)]
    for i in range(2, n_certs + 1):
        if _cert_status(i - 1, n_certs, n_drafts) == "superseded":
            eq_of[i - 1] = eq_of[i - 2]  # the amendment is of the same instrument
    _load(
        db,
        WorkOrder,
        ["id", "number", "customer_id", "received_on", "status", "notes", "created_at"],
        (
            (i, f"WO{i:08d}", owner[eq_of[i - 1]], days[i - 1].date(), "completed", "", now)
            for i in range(1, n_certs + 1)
        ),
    )
    _load(
        db,
        WorkOrderItem,
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
        Run,
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

    def resources() -> Iterable[tuple[Any, ...]]:
        rid = 0
        for i in range(1, n_certs + 1):
            std = rnd.randint(1, n_standards)
            rm = rnd.randint(1, n_rms)
            for kind, res, tag in (
                ("standard", std, f"STD-{std:04d}"),
                ("reference_material", rm, f"RM-{rm:05d}"),
            ):
                rid += 1
                yield (rid, i, kind, res, tag, "", days[i - 1])

    _load(
        db,
        RunResource,
        ["id", "run_id", "kind", "resource_id", "tag", "certificate_number", "created_at"],
        resources(),
    )
    template = _content_template()

    def certificates() -> Iterable[tuple[Any, ...]]:
        for i in range(1, n_certs + 1):
            day = days[i - 1]
            number = f"CM{day.year}-{i:07d}"
            eq = eq_of[i - 1]
            status = _cert_status(i, n_certs, n_drafts)
            issued = status in ("issued", "superseded")
            amends = i > 1 and _cert_status(i - 1, n_certs, n_drafts) == "superseded"
            content = (
                template.replace("@@NUMBER@@", number)
                .replace("@@CUSTOMER@@", _customer_name(owner[eq]))
                .replace("@@SERIAL@@", _serial(eq))
            )
            yield (
                i,
                number,
                day.year,
                i,
                "verification_certificate",
                status,
                1 if amends else 0,
                i - 1 if amends else None,
                "amended: wrong serial number" if amends else None,
                i,
                "c" * 64,
                "d" * 64 if issued else None,
                day + timedelta(days=2) if issued else None,
                day.date() + timedelta(days=365),
                "",
                content,
                1,
                owner[eq],
                eq,
                day,
            )

    _load(
        db,
        Certificate,
        [
            "id",
            "number",
            "year",
            "sequence",
            "type",
            "status",
            "revision",
            "replaces_id",
            "amendment_reason",
            "run_id",
            "content_sha256",
            "pdf_sha256",
            "issued_at",
            "valid_until",
            "status_reason",
            "content",
            "drafted_by_id",
            "customer_id",
            "equipment_id",
            "created_at",
        ],
        certificates(),
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

    with db.engine.begin() as conn:  # synthetic readings come without their chain events
        drop_chain_event_requirement(conn, "readings")
    _load(
        db,
        Reading,
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
    with db.engine.begin() as conn:
        require_chain_event(conn, "readings")
    if not db.is_sqlite:
        with db.engine.begin() as conn:
            for name in TABLES:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
    t = time.perf_counter()
    if db.is_sqlite:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        # VACUUM sets the visibility map, as autovacuum would on a live database.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    _say(f"{'ANALYZE' if db.is_sqlite else 'VACUUM ANALYZE'} in {time.perf_counter() - t:.1f} s")
    return info


def _timed(fn: Callable[[], int], n: int) -> tuple[float, float, float]:
    """p50 and p95 in ms over ``n`` calls, and the mean number of rows returned."""
    samples = []
    found = 0
    for _ in range(n):
        t = time.perf_counter()
        found += fn()
        samples.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(samples, n=20)
    return statistics.median(samples), q[18], found / n


def main() -> None:
    """Parse arguments, generate, time and print."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", required=True, help="an EMPTY database (sqlite:///... or postgresql)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="time a database this script generated before (with the same --scale)",
    )
    args = ap.parse_args()
    db = Database(args.url)
    full = 100_000 if db.is_sqlite else 1_000_000
    n_certs = max(1000, int(full * args.scale))
    upgrade(db.engine)
    with db.read() as s:
        present = s.scalar(select(func.count()).select_from(Certificate))
    t = time.perf_counter()
    if args.reuse:
        if present != n_certs:
            raise SystemExit(
                f"--reuse: the database holds {present:,} certificates, not {n_certs:,}"
            )
        info = sizes(n_certs)
    elif present:
        raise SystemExit("the benchmark database must be empty (or use --reuse)")
    else:
        _say(f"generating {n_certs:,} certificates on {db.engine.dialect.name}")
        info = generate(db, n_certs)
    load_s = time.perf_counter() - t
    with db.read() as s:
        counts = {
            t: s.scalar(text(f"SELECT count(*) FROM {t}"))
            for t in ("certificates", "readings", "customers", "equipment", "run_resources")
        }
    print(
        f"backend {db.engine.dialect.name}, scale {args.scale}: "
        + ", ".join(f"{v:,} {k}" for k, v in counts.items())
        + f"; {info['n_standards']} standards, {info['n_rms']} reference materials"
        + (" (reused)" if args.reuse else f"; generated and analyzed in {load_s:.1f} s"),
        flush=True,
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

    def one_year() -> tuple[date, date]:
        start = T0.date() + timedelta(days=rnd.randint(0, SPAN_DAYS - 365))
        return start, start + timedelta(days=364)

    with db.read() as s:

        def by_serial() -> int:
            sn = _serial(rnd.randint(1, info["n_equipment"]))
            return len(search_certificates(s, serial=sn))

        def by_customer_name() -> int:
            start, end = one_year()
            name = _customer_name(rnd.randint(1, info["n_customers"]))[3:]  # "Customer 00042"
            return len(search_certificates(s, customer=name, date_from=start, date_to=end))

        def by_customer_id() -> int:
            start, end = one_year()
            cid = rnd.randint(1, info["n_customers"])
            return len(search_certificates(s, customer=cid, date_from=start, date_to=end))

        def newest() -> int:
            return len(search_certificates(s))

        def trace() -> int:
            tag = f"RM-{rnd.randint(1, info['n_rms']):05d}"
            return len(reverse_trace(s, auditor, tag, since=date(2024, 1, 1)).certificates)

        for label, fn in (
            ("search by serial number", by_serial),
            ("search by customer name part + 1-year range", by_customer_name),
            ("search by customer id + 1-year range", by_customer_id),
            ("newest 200, no criteria", newest),
            ("reverse trace of a reference material (since 2024)", trace),
        ):
            p50, p95, rows = _timed(fn, args.queries)
            print(
                f"{label:<52} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   "
                f"({rows:.1f} certificates found on average)",
                flush=True,
            )
    db.dispose()


if __name__ == "__main__":
    main()
