"""A seeded simulated bench reproduces its runs bit for bit (the engine drives a virtual
clock), on SQLite and PostgreSQL alike; every command and reply of a run is kept and
exported by ``lims run io``; the application log names no secret.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lims.db import Database
from lims.models import InstrumentExchange, Reading, Result, Run, RunStatus
from lims.services.demo import DEMO_USERS
from lims.services.runs import SilentWatcher, execute_run
from tests.lims._cli import clean_env, run_main
from tests.procedures.gas_bench import demo_lab
from tests.procedures.simrun import derive_bench, item_of

ROOT = Path(__file__).resolve().parents[2]
BENCHES = ROOT / "examples" / "benches"

#: procedure → the example bench its demo item runs on
EVERY = {
    "jjg635": "gas-analyzer.toml",
    "gas-analyzer-cal": "ch4-analyzer.toml",
    "jjg1037-gas-flowmeter": "gas-flowmeter.toml",
    "jjg1148-ac-pile": "ac-pile.toml",
    "jjg1149-dc-charger": "dc-charger.toml",
    "elemental-analyzer-cal": "elemental-analyzer.toml",
    "jjg672-bomb-calorimeter": "bomb-calorimeter.toml",
    "jjg1006-sulfur-analyzer": "sulfur-analyzer.toml",
}


def _run(db: Database, procedure: str, bench: Path) -> int:
    outcome = execute_run(
        db,
        bench_path=bench,
        operator="zhang",
        item_id=item_of(db, procedure),
        procedure_id=procedure,
        auto=True,
        watcher=SilentWatcher(),
    )
    assert outcome is not None
    assert outcome.status is RunStatus.COMPLETED, outcome.reason
    return outcome.run_id


def _record(db: Database, run_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Readings (with their simulated time since the first) and results, exactly."""
    with db.read() as s:
        rows = list(
            s.scalars(select(Reading).where(Reading.run_id == run_id).order_by(Reading.seq))
        )
        t0: datetime = rows[0].taken_at
        readings = [
            (
                r.seq,
                r.step,
                r.test_point,
                r.quantity,
                r.magnitude,
                r.unit,
                r.source,
                (r.taken_at - t0).total_seconds(),
            )
            for r in rows
        ]
        results = [
            (r.test_point, r.item, r.values, r.verdict, r.decision_rule, r.budget)
            for r in s.scalars(select(Result).where(Result.run_id == run_id).order_by(Result.id))
        ]
    return readings, results


@pytest.fixture
def two_labs(tmp_path: Path, pg_url: str) -> Iterator[tuple[Database, Database]]:
    sqlite = demo_lab(f"sqlite:///{tmp_path / 'lims.sqlite3'}")
    postgresql = demo_lab(pg_url)
    try:
        yield sqlite, postgresql
    finally:
        sqlite.dispose()
        postgresql.dispose()


@pytest.mark.parametrize("procedure", sorted(EVERY))
def test_a_seeded_bench_reproduces_readings_and_results_bit_for_bit(
    two_labs: tuple[Database, Database], procedure: str
) -> None:
    sqlite, postgresql = two_labs
    bench = BENCHES / EVERY[procedure]
    first = _record(sqlite, _run(sqlite, procedure, bench))
    again = _record(sqlite, _run(sqlite, procedure, bench))
    elsewhere = _record(postgresql, _run(postgresql, procedure, bench))
    assert first[0], procedure
    assert again == first
    assert elsewhere == first


def test_another_seed_gives_other_readings(tmp_path: Path) -> None:
    db = demo_lab(f"sqlite:///{tmp_path / 'lims.sqlite3'}")
    try:
        bench = BENCHES / "gas-analyzer.toml"
        other = derive_bench(tmp_path, "gas-analyzer", {("", "seed"): "636"}, "other-seed")
        a = _record(db, _run(db, "jjg635", bench))[0]
        b = _record(db, _run(db, "jjg635", other))[0]
        assert [r[4] for r in a] != [r[4] for r in b]
    finally:
        db.dispose()


def test_a_garbled_reply_pauses_the_run_and_is_in_its_io_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = demo_lab(f"sqlite:///{tmp_path / 'lims.sqlite3'}")
    text = (BENCHES / "gas-analyzer.toml").read_text("utf-8")
    fault = '\n[[instruments.analyzer.faults]]\nkind = "garbage"\nat = "40 s"\nduration = "3 s"\n'
    bench = tmp_path / "garbled.toml"
    marker = "\n[instruments.dilutor]\n"
    bench.write_text(text.replace(marker, fault + marker))
    pw = tmp_path / "pw"
    pw.write_text(next(u.password for u in DEMO_USERS if u.username == "zhang") + "\n")
    env = clean_env(tmp_path, LIMS_DATABASE_URL=f"sqlite:///{tmp_path / 'lims.sqlite3'}")
    args = ["run", "jjg635", "--bench", str(bench), "--item", "1", "--operator", "zhang"]
    r = run_main([*args, "--password-file", str(pw), "--auto"], env, monkeypatch, capsys)
    assert r.code == 13, r.err  # paused: an instrument error
    assert "instrument error" in r.err
    with db.read() as s:
        run = s.scalars(select(Run)).one()
        assert run.status is RunStatus.PAUSED
        run_id = run.id
        stored = [
            (x.instrument, x.received)
            for x in s.scalars(
                select(InstrumentExchange).where(InstrumentExchange.run_id == run_id)
            )
        ]
    garbled = [rx for who, rx in stored if who == "analyzer" and not rx.isascii()]
    assert garbled, "the garbled reply is not in the record"
    # exported as CSV: every exchange, the garbled one with its bytes
    out = tmp_path / "io.csv"
    r = run_main(["run", "io", str(run_id), "--csv", "-o", str(out)], env, monkeypatch, capsys)
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    assert len(rows) == len(stored)
    assert [int(row["seq"]) for row in rows] == list(range(1, len(rows) + 1))
    hexes = {row["received_hex"] for row in rows if row["instrument"] == "analyzer"}
    assert garbled[0].hex() in hexes
    assert {row["instrument"] for row in rows} >= {"analyzer", "dilutor"}
    db.dispose()


def test_failed_logins_and_refused_signatures_leave_no_secret_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = demo_lab(f"sqlite:///{tmp_path / 'lims.sqlite3'}")
    db.dispose()
    env = clean_env(
        tmp_path,
        LIMS_DATABASE_URL=f"sqlite:///{tmp_path / 'lims.sqlite3'}",
        LIMS_LOG_LEVEL="DEBUG",
    )
    secret = "Not-The-Password-9"
    bad = tmp_path / "bad"
    bad.write_text(secret + "\n")
    for _ in range(6):  # beyond the lockout threshold
        args = ["run", "jjg635", "--bench", str(BENCHES / "gas-analyzer.toml"), "--item", "1"]
        r = run_main(
            [*args, "--operator", "zhang", "--password-file", str(bad)], env, monkeypatch, capsys
        )
        assert r.code != 0
        assert secret not in r.out + r.err
    r = run_main(
        [
            "certificate",
            "sign",
            "NO-SUCH-1",
            "--as",
            "li",
            "--meaning",
            "reviewed",
            "--password-file",
            str(bad),
        ],
        env,
        monkeypatch,
        capsys,
    )
    assert r.code != 0
    logged = "".join(p.read_text("utf-8") for p in (tmp_path / "logs").glob("lims.log*"))
    terminal = r.out + r.err
    for text in (logged, terminal):
        assert secret not in text
        assert "$argon2" not in text
        assert "PRIVATE KEY" not in text
