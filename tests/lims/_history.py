"""A lab's history grown fast but faithfully: every record written through the ORM, so the
audit hooks append its events; readings and instrument exchanges chained and their heads
audited as the engine's writer does (a batch at a time)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from lims.audit import append_readings
from lims.db import Database
from lims.engine.io_record import append_io
from lims.models import (
    Certificate,
    CertificateSequence,
    CertificateType,
    Result,
    Run,
    Verdict,
)
from tests.lims._lab import T0, Lab, reading_rows

#: Readings (and instrument exchanges) written per audited batch, as the writer's time batches.
BATCH = 10


def _exchanges(first: int, last: int) -> list[dict[str, object]]:
    return [
        {
            "seq": i,
            "at": T0 + timedelta(seconds=i),
            "instrument": "analyzer",
            "operation": "query",
            "sent": b"MEAS?\r\n",
            "received": f"{400 + i / 10:.1f}\r\n".encode(),
            "duration_s": 0.05,
            "error": "",
        }
        for i in range(first, last + 1)
    ]


def add_runs(db: Database, lab: Lab, runs: int, readings: int = 20) -> list[int]:
    """``runs`` more runs of ``lab``'s procedure, each with ``readings`` readings and as many
    instrument exchanges, two results and a drafted certificate; returns their ids."""
    made = []
    with db.write(actor="system:history", reason="lab history") as s:
        template = s.get(Run, lab.run_id)
        assert template is not None
        counter = s.scalars(
            select(CertificateSequence).where(CertificateSequence.year == 2026)
        ).one()
        for _ in range(runs):
            run = Run(
                procedure_version_id=template.procedure_version_id,
                operator_id=template.operator_id,
                bench_name=template.bench_name,
                simulated=True,
                started_at=T0,
            )
            s.add(run)
            s.flush()
            for first in range(1, readings + 1, BATCH):
                last = min(first + BATCH - 1, readings)
                append_readings(s, run.id, reading_rows(first, last))
                append_io(s, run.id, _exchanges(first, last))
            s.add_all(
                Result(
                    run_id=run.id,
                    item="indication error",
                    test_point=point,
                    values={"error": {"value": 0.2, "unit": "micromole / mole"}},
                    verdict=Verdict.PASS,
                    first_seq=1,
                    last_seq=readings,
                )
                for point in ("400 umol/mol", "1000 umol/mol")
            )
            counter.last += 1
            s.add(
                Certificate(
                    number=f"CM2026-{counter.last:05d}",
                    year=2026,
                    sequence=counter.last,
                    type=CertificateType.VERIFICATION,
                    run_id=run.id,
                    content_sha256="c" * 64,
                )
            )
            s.flush()
            made.append(run.id)
    return made
