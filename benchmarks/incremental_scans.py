"""The part of an incremental ``lims audit verify`` on PostgreSQL that grows with the history,
measured at the target size itself: one scan per table for its row count and the rows
written since the checkpoint's snapshot (``lims.audit_row_versions``).

    uv run python benchmarks/incremental_scans.py [--runs 1000000] [--template 1000]

A lab of ``--template`` runs is written faithfully (``tests.lims._history.add_runs``: 20
readings, 20 instrument exchanges, 2 results and a certificate per run, with their audit
events), then its runs, readings, exchanges, results, certificates and audit events are copied
with shifted ids (the insert guards of the readings and exchanges dropped meanwhile, as the
copies have no chain events, and created again) until the lab holds ``--runs`` runs (1 M runs:
1 M certificates and 20 M readings, the target of the verification). The copies are rows of the
same width as the faithful ones, written in bulk with the indexes kept (foreign-key and guard
triggers off for the copy): they serve only to time the scans, which read every row and hash
none. After ``VACUUM ANALYZE`` (what autovacuum does on a live lab) a checkpoint position is
taken, 50 runs' worth of rows are written, and each way of reading each table is timed three
times: not at all for the readings and exchanges while their insert guards hold (the catalog
check only), the lowest id for the audit events while their key is kept, the row count while a
table is sealed, and its survey (``WrittenSince.survey``). The median is printed per table and
way with the table's size; the first way that applies is the verification's, and those are
summed. The rest of an incremental verification (the day's events, records and chains) does not
grow with the history: ``benchmarks/verify_growth.py`` measures it. Last, an anchor file of one
line per run is checked in full and past what a checkpoint recorded of it. Then the two other
checks a verification checks besides the tables are timed, over the whole history and from the
checkpoint: the certificate numbering (``numbering_problems`` against
``numbering_adds_up_since`` for the day's certificates) and the archive (every file the records
name merged with the archive's listing, ``archive_problems``, against ``check_archive`` from
the checkpoint's clock: the leaf directories changed since, and the day's files hashed again).
For those, the copied certificates are issued ones, each naming a PDF and a DCC (distinct
made-up hashes), and an archive of that many empty files is written in a temporary directory;
the clock is read a margin after, and the day's 50 certificates are then issued with a PDF and
a DCC each. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, text
from sqlalchemy.engine import Connection, make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLES = ("audit_events", "readings", "instrument_io", "results", "runs", "certificates")
CHAINED = ("readings", "instrument_io")
#: Columns shifted by the copy number times the template's largest value.
SHIFTED = {"id", "run_id", "sequence"}


def _columns(conn: Connection, table: str) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                "AND table_schema = current_schema() ORDER BY ordinal_position"
            ),
            {"t": table},
        ).scalars()
    )


def _copy(conn: Connection, table: str, copies: int, step: int) -> None:
    cols = _columns(conn, table)
    shift = {
        c: int(conn.execute(text(f'SELECT coalesce(max("{c}"), 0) FROM "{table}"')).scalar_one())
        for c in cols
        if c in SHIFTED
    }
    exprs = []
    for c in cols:
        if c == "id" and table == "audit_events":
            # far above the chain's ids: the audit trail appends the day's events after its head
            exprs.append(f'"{c}" + 1000000000 + g * {shift[c]}')
        elif c in shift:
            exprs.append(f'"{c}" + g * {shift[c]}')
        elif table == "certificates" and c == "number":
            exprs.append("\"number\" || '-' || g")
        elif table == "certificates" and c == "status":
            exprs.append("'issued'")
        elif table == "certificates" and c in ("pdf_sha256", "dcc_sha256"):
            salt = c[0]  # a hash of its own per copy and per file
            exprs.append(f"md5(g || '{salt}' || t.id) || md5(t.id || '{salt}' || g)")
        else:
            exprs.append(f'"{c}"')
    names = ", ".join(f'"{c}"' for c in cols)
    for first in range(1, copies + 1, step):
        last = min(first + step - 1, copies)
        conn.exec_driver_sql(
            f'INSERT INTO "{table}" ({names}) SELECT {", ".join(exprs)} FROM "{table}" t, '
            f"generate_series({first}, {last}) g WHERE t.id BETWEEN 1 AND {shift['id']}"
        )
        conn.commit()
    if table == "certificates":  # numbers continue after the copies
        conn.exec_driver_sql(
            "UPDATE certificate_sequences SET last = (SELECT max(sequence) FROM certificates c "
            "WHERE c.year = certificate_sequences.year)"
        )
    if table != "audit_events":
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f'(SELECT max(id) FROM "{table}"))'
        )
        conn.commit()


def _anchors(db: Any, runs: int) -> None:
    """One anchor per approved certificate: an anchor file of ``runs`` lines (existing
    events and their hashes), checked in full and, as an incremental verification does,
    past the part a checkpoint recorded (50 more anchors appended since)."""
    import tempfile

    from sqlalchemy.orm import Session

    from lims.audit_anchors import Anchor, check_destinations

    with tempfile.TemporaryDirectory(prefix="anchors-") as tmp:
        path = Path(tmp) / "audit-anchors.jsonl"
        with Session(db.engine) as s, path.open("w", encoding="utf-8") as f:
            query = text("SELECT id, sha256 FROM audit_events ORDER BY id DESC LIMIT :n")
            at = datetime(2026, 1, 1, tzinfo=UTC)
            last = Anchor(1, "0" * 64, at)
            for event_id, sha in s.execute(query.execution_options(yield_per=20000), {"n": runs}):
                last = Anchor(int(event_id), str(sha), at)
                f.write(last.to_line() + "\n")
        for mode in ("full", "past the checkpoint's record"):
            with Session(db.engine) as s:
                t1 = time.perf_counter()
                if mode == "full":
                    check = check_destinations(s, path)
                    recorded = check.files[str(path)]
                else:
                    check = check_destinations(s, path, trusted={str(path): recorded})
                seconds = time.perf_counter() - t1
            print(
                f"anchors ({check.anchors:,} lines, {path.stat().st_size / 2**20:.0f} MiB), "
                f"{mode}: {seconds:.2f} s",
                flush=True,
            )
            if mode == "full":
                with path.open("a", encoding="utf-8") as f:
                    for _ in range(50):
                        f.write(last.to_line() + "\n")


def _median(label: str, call: Any, rounds: int = 3) -> Any:
    times, result = [], None
    for _ in range(rounds):
        t1 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t1)
    print(
        f"{label}: {statistics.median(times):.2f} s (runs {', '.join(f'{x:.2f}' for x in times)})",
        flush=True,
    )
    return result


def _whole_history_checks(db: Any) -> None:
    """The numbering and the archive: checked over the whole history (what a verification
    without a usable checkpoint does) and from the checkpoint (what changed since)."""
    import tempfile

    from sqlalchemy.orm import Session

    from lims.integrity_archive import archive_problems, check_archive
    from lims.quality import archive as archive_module
    from lims.quality.archive import archived_hashes, read_clock, store_bytes
    from lims.services.numbering import numbering_adds_up_since, numbering_problems

    with Session(db.engine) as s:
        certificates = s.scalar(text("SELECT count(*) FROM certificates"))
        day = [
            int(i) for i in s.scalars(text("SELECT id FROM certificates ORDER BY id DESC LIMIT 50"))
        ]
        counter = int(
            s.scalar(text("SELECT last FROM certificate_sequences WHERE year = 2026")) or 0
        )
        found = _median(
            f"numbering of {certificates:,} certificates, whole history",
            lambda: numbering_problems(s),
        )
        print(f"  {len(found)} problems", flush=True)
        # the day's 50 certificates were drafted after the checkpoint: they had no place then
        settled = _median(
            "numbering from the checkpoint's (the day's 50 certificates)",
            lambda: numbering_adds_up_since(s, dict.fromkeys(day), {2026: counter - len(day)}),
        )
        print(f"  adds up: {settled}", flush=True)
        s.rollback()
    with tempfile.TemporaryDirectory(prefix="archive-") as tmp, Session(db.engine) as s:
        archive = Path(tmp)
        query = text(
            "SELECT pdf_sha256 FROM certificates WHERE pdf_sha256 IS NOT NULL "
            "UNION ALL SELECT dcc_sha256 FROM certificates WHERE dcc_sha256 IS NOT NULL"
        )
        t1 = time.perf_counter()
        leaves: set[str] = set()
        for (sha,) in s.execute(query.execution_options(yield_per=20000)):
            leaf = archive / sha[:2] / sha[2:4]
            if sha[:4] not in leaves:
                leaf.mkdir(parents=True, exist_ok=True)
                leaves.add(sha[:4])
            (leaf / sha).touch()
        s.rollback()
        read_clock(archive)  # as the verification before the checkpoint did
        files = sum(1 for _ in archived_hashes(archive))
        print(f"archive: {files:,} files written in {time.perf_counter() - t1:.0f} s", flush=True)
        _median(
            f"archive listed ({files:,} files)", lambda: sum(1 for _ in archived_hashes(archive))
        )

        def merged() -> None:
            _files, problems = archive_problems(s, archive, rehash=set())
            s.rollback()
            assert not problems, problems[:3]

        _median(f"archive merged with the records' {files:,} files, whole history", merged)
        # the checkpoint's clock, read past the margin after the history's last file, then
        # the day's work: each of the day's certificates issued with a PDF and a DCC
        time.sleep(archive_module.CLOCK_MARGIN_NS / 1e9 + 1)
        clock = read_clock(archive)
        assert clock is not None
        with db.engine.begin() as conn:
            for cid in day:
                pdf = store_bytes(archive, f"%PDF-1.7 certificate {cid}".encode())
                dcc = store_bytes(
                    archive, f"<dcc:digitalCalibrationCertificate id='{cid}'/>".encode()
                )
                conn.execute(
                    text(
                        "UPDATE certificates SET status = 'issued', pdf_sha256 = :p, "
                        "dcc_sha256 = :d WHERE id = :i"
                    ),
                    {"p": pdf, "d": dcc, "i": cid},
                )
        touched = {"certificates": {str(i) for i in day}}

        def incremental() -> Any:
            found = check_archive(s, archive, touched=touched, since=clock)
            s.rollback()
            assert not found.problems, found.problems[:3]
            assert not found.listed_all
            return found

        found = _median("archive from the checkpoint's clock (the day's 100 files)", incremental)
        print(f"  {found.files} files listed in the directories changed since", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--template", type=int, default=1000)
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get(
            "LIMS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()

    from lims.audit_row_versions import WrittenSince, row_count, snapshot_position
    from lims.db import Database
    from lims.db.base import Base
    from lims.db.migrate import upgrade
    from migrations.guards import drop_chain_event_requirement, require_chain_event
    from tests.lims._history import add_runs
    from tests.lims._lab import build_lab

    name = f"lims_incremental_scans_{os.getpid()}"
    admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.pg_admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        upgrade(db.engine)
        lab = build_lab(db, issued=False)
        t0 = time.perf_counter()
        add_runs(db, lab, args.template - 1)
        print(
            f"template: {args.template} runs written through the ORM in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        copies = max(0, args.runs // args.template - 1)
        t0 = time.perf_counter()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SET session_replication_role = replica")
            for table in CHAINED:  # copies come without chain events: guard put back after
                drop_chain_event_requirement(conn, table)
            for table in TABLES:
                _copy(conn, table, copies, step=max(1, 2_000_000 // (args.template * 20)))
            for table in CHAINED:
                require_chain_event(conn, table)
            conn.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        print(
            f"copied to {args.runs} runs and vacuumed in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            from sqlalchemy.orm import Session

            with Session(bind=conn) as s:
                position = snapshot_position(s)
                s.rollback()
        assert position is not None
        add_runs(db, lab, 50)  # a day's work after the checkpoint
        since = WrittenSince(position)
        total = 0.0
        with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            from sqlalchemy.orm import Session

            with Session(bind=conn) as s:
                for table in TABLES:
                    t: Table = Base.metadata.tables[table]
                    modes = ["sealed: counted", "surveyed"]
                    if table == "audit_events":
                        modes.insert(0, "sealed, key kept")
                    if table in CHAINED:
                        modes.insert(0, "inserts audited")
                    used = None  # the mode the verification takes for this table
                    for mode in modes:
                        times, rows, written = [], 0, -1
                        for _ in range(3):
                            t1 = time.perf_counter()
                            if mode == "sealed, key kept":  # events up to the checkpoint
                                if not (since.sealed(s, table) and since.key_kept(s, table)):
                                    break
                                rows = int(s.scalar(text("SELECT min(id) FROM audit_events")))
                            elif mode == "inserts audited":  # rows follow from the trail
                                if not (since.sealed(s, table) and since.inserts_audited(s, table)):
                                    break
                                rows = -1
                            elif mode == "sealed: counted":
                                if not since.sealed(s, table):
                                    break
                                rows = row_count(s, t)
                            else:
                                column = t.c.run_id if table in CHAINED else t.c.id
                                found = since.survey(s, t, column)
                                rows, written = found.rows, found.written
                            times.append(time.perf_counter() - t1)
                        if not times:
                            continue
                        size = s.scalar(text(f"SELECT pg_table_size('{table}')")) or 0
                        median = statistics.median(times)
                        what = mode if mode != "surveyed" else f"{written:>6} written since"
                        held = (
                            f"lowest id {rows}"
                            if mode == "sealed, key kept"
                            else "not counted"
                            if mode == "inserts audited"
                            else f"{rows:,} rows"
                        )
                        print(
                            f"{table:14} {held:>16} {int(size) / 2**30:6.2f} GiB | "
                            f"{what:18} | {median:6.2f} s "
                            f"(runs {', '.join(f'{x:.2f}' for x in times)})",
                            flush=True,
                        )
                        if used is None:
                            used = median
                    total += used or 0.0
        print(
            f"what the incremental verification reads of these tables: {total:.2f} s "
            f"for {args.runs:,} runs",
            flush=True,
        )
        _anchors(db, args.runs)
        _whole_history_checks(db)
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
