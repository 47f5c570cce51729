"""How ``lims audit verify`` grows with the lab's history: time and peak memory, full and
incremental, on SQLite and PostgreSQL, with the fitted slope and the extrapolation.

    uv run python benchmarks/verify_growth.py [--sizes 100,400,1600] [--backends sqlite,postgresql]

Each backend gets a lab of its own (a SQLite file in a temporary directory; a PostgreSQL
database created for the run and dropped after it, never the shared ``test`` tables).
The history is written faithfully (``tests.lims._history.add_runs``): every record
through the ORM so the audit hooks append its events, readings and instrument exchanges
chained and their heads audited ten at a time as the engine's writer batches them. A run
holds 20 readings, 20 exchanges, 2 results and a drafted certificate, so runs, readings
and certificates keep the ratio of the target (1 M certificates, 20 M readings).

For every size N: the lab is grown to N runs, verified and checkpointed
(``lims audit verify --checkpoint``), then a day's work (50 runs) is added; the
incremental verification (from that checkpoint) and the full one (``--full``) are each
timed in a fresh process (what ``check_integrity`` takes, start-up excluded) whose peak
resident memory (VmHWM) is reported. On PostgreSQL the full one is timed a second time
with the readings' and exchanges' chains walked in a worker process on the verifier's
snapshot (``lims.audit_parallel``; by default only above 200 000 readings), its start-up
included; the peak shown is the verifying process's. Also on PostgreSQL, the incremental
verification is timed again after ``VACUUM ANALYZE``: the benchmark writes the whole
history minutes before it verifies, so the first incremental verification is the first
to read much of it (setting hint bits, with no visibility map for counts to use); in a
lab, autovacuum has long passed over the history older than a day.

Extrapolation: a least-squares line through (readings, seconds) of each mode, evaluated at
20 M readings; peak memory likewise. Both are linear fits of a few points measured on a
shared 2-core machine: an order of magnitude, not a promise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_READINGS = 20_000_000
DAY = 50


def _child(url: str, data: str, mode: str) -> None:
    """Measure one verification in this (fresh) process; print JSON."""
    from lims.db import Database
    from lims.integrity import check_integrity, verification_session

    db = Database(url)
    t0 = time.perf_counter()
    with verification_session(db) as s:
        report = check_integrity(
            s,
            archive_dir=Path(data) / "archive",
            anchor_file=Path(data) / "audit-anchors.jsonl",
            full=mode != "incremental",
            parallel=mode == "parallel" or None,
        )
    seconds = time.perf_counter() - t0
    hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_bytes": hwm,
                "mode": report.trail.mode,
                "events": report.trail.events,
                "readings": report.trail.readings,
                "verdict": report.verdict.value,
                "problems": [str(p) for p in report.problems[:3]],
            }
        )
    )
    db.dispose()


def _measure(url: str, data: Path, mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(data), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["verdict"] != "intact":
        raise SystemExit(f"verification not intact: {result}")
    return result


def _checkpoint(url: str, data: Path) -> None:
    from lims.audit_anchors import write_anchor
    from lims.audit_checkpoint import write_checkpoint
    from lims.db import Database
    from lims.integrity import IntegrityVerdict, check_integrity, verification_session

    db = Database(url)
    anchors = data / "audit-anchors.jsonl"
    write_anchor(db, anchors)
    with verification_session(db) as s:
        report = check_integrity(s, archive_dir=data / "archive", anchor_file=anchors)
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    write_checkpoint(
        db,
        report.trail,
        anchors,
        anchor_files=report.anchors.files,
        archive_clock=report.archive_clock,
    )
    db.dispose()


def _vacuum(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return slope, my - slope * mx


def _grow(backend: str, url: str, data: Path, sizes: list[int]) -> list[dict[str, Any]]:
    from lims.db import Database
    from lims.db.migrate import upgrade
    from tests.lims._history import add_runs
    from tests.lims._lab import build_lab

    db = Database(url)
    upgrade(db.engine)
    lab = build_lab(db, issued=False)
    runs = 1
    rows = []
    for size in sizes:
        t0 = time.perf_counter()
        while runs < size:
            step = min(200, size - runs)
            add_runs(db, lab, step)
            runs += step
        _checkpoint(url, data)
        add_runs(db, lab, DAY)
        runs += DAY
        built = time.perf_counter() - t0
        inc = _measure(url, data, "incremental")
        full = _measure(url, data, "full")
        row = {"backend": backend, "runs": runs, "built_s": built, "inc": inc, "full": full}
        shared = after = ""
        if backend == "postgresql":
            # the chains in a worker process on the verifier's snapshot, measured right after
            par = row["par"] = _measure(url, data, "parallel")
            shared = (
                f"full, chains in a worker {par['seconds']:7.2f} s "
                f"{int(par['peak_bytes']) / 2**20:4.0f} MiB | "
            )
            _vacuum(url)
            vac = row["vac"] = _measure(url, data, "incremental")
            after = f" | after VACUUM ANALYZE {vac['seconds']:5.2f} s"
        rows.append(row)
        print(
            f"{backend:10} {runs:>6} runs {full['readings']:>8} readings "
            f"{full['events']:>7} events | "
            f"full {full['seconds']:7.2f} s {int(full['peak_bytes']) / 2**20:6.0f} MiB | "
            f"{shared}"
            f"incremental ({inc['events']} events) {inc['seconds']:6.2f} s "
            f"{int(inc['peak_bytes']) / 2**20:6.0f} MiB{after} | built in {built:.0f} s",
            flush=True,
        )
    db.dispose()
    return rows


def _report(rows: list[dict[str, Any]]) -> None:
    for backend in sorted({str(r["backend"]) for r in rows}):
        mine = [r for r in rows if r["backend"] == backend]
        for mode in ("full", "par", "inc", "vac"):
            if not all(mode in r for r in mine):
                continue
            xs = [float(r[mode]["readings"]) for r in mine]
            ts = [float(r[mode]["seconds"]) for r in mine]
            ms = [float(r[mode]["peak_bytes"]) / 2**20 for r in mine]
            if len(xs) < 2:
                continue
            slope, icpt = _fit(xs, ts)
            mslope, micpt = _fit(xs, ms)
            name = {
                "full": "full",
                "par": "full (chains in a worker)",
                "inc": "incremental",
                "vac": "incremental after VACUUM ANALYZE",
            }[mode]
            print(
                f"{backend} {name}: {slope * 1e6:.1f} s per million readings (fit over "
                f"{len(xs)} sizes); at {TARGET_READINGS / 1e6:.0f} M readings ≈ "
                f"{(slope * TARGET_READINGS + icpt) / 60:.0f} min, peak ≈ "
                f"{mslope * TARGET_READINGS + micpt:.0f} MiB "
                f"(memory slope {mslope * 1e6:.1f} MiB per million readings)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,400,1600", help="runs before the day's work")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get(
            "LIMS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="verify-growth-") as tmp:
            data = Path(tmp)
            if backend == "sqlite":
                rows += _grow(backend, f"sqlite:///{data / 'lims.sqlite3'}", data, sizes)
                continue
            name = f"lims_verify_growth_{os.getpid()}"
            admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(args.pg_admin_url).set(database=name)
                rows += _grow(backend, url.render_as_string(hide_password=False), data, sizes)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    _report(rows)


if __name__ == "__main__":
    main()
