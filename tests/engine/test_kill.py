"""A run killed with SIGKILL loses no acknowledged reading, and resume completes it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select

from lims.audit import verify
from lims.db import Database
from lims.engine import RunEngine
from lims.engine.journal import journal_items
from lims.models import Reading, Result, Run, RunStatus
from lims.results_legacy import record_of
from tests.engine import fakes
from tests.engine.conftest import DEFAULT_ANSWERS
from tests.engine.sample_procedure import SampleGasProcedure

ROOT = Path(__file__).resolve().parents[2]
SCALE = 150.0  # the run lasts about a second: every kill lands mid-run


def _kill_mid_run(url: str, delay_s: float) -> tuple[int, int]:
    """Start the run in a subprocess, SIGKILL it ``delay_s`` after it starts; (run id, last ACK)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.kill_target", url, str(SCALE)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    started = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("RUN "):
                started.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert started.wait(60), proc.stderr.read() if proc.stderr else ""
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    t.join(10)
    if proc.stderr is not None:
        proc.stderr.close()
    proc.stdout.close()
    run_id = int(next(x for x in lines if x.startswith("RUN "))[4:])
    acks = [int(x[4:]) for x in lines if x.startswith("ACK ")]
    return run_id, max(acks, default=0)


def test_sigkill_loses_no_acknowledged_reading_and_resume_completes(
    lab: Database, db_url: str
) -> None:
    rng = random.Random(20260)
    for trial in range(2):
        delay = rng.uniform(0.05, 0.6)
        run_id, acked = _kill_mid_run(db_url, delay)
        with lab.read() as s:
            seqs = list(
                s.scalars(select(Reading.seq).where(Reading.run_id == run_id).order_by(Reading.seq))
            )
            # acknowledged readings not yet sealed into the chain wait in the run's journal
            seqs += [int(i["seq"]) for i in journal_items(s, run_id) if i.get("kind") != "io"]
            seqs.sort()
            status = s.get(Run, run_id).status  # type: ignore[union-attr]
        assert seqs == list(range(1, len(seqs) + 1)), f"trial {trial}: gap in readings"
        assert len(seqs) >= acked, f"trial {trial}: acknowledged reading lost"
        # killed before the end (possibly before its worker thread set it running)
        assert status in (RunStatus.QUEUED, RunStatus.RUNNING), f"trial {trial}: {status}"
        handle = RunEngine(lab).resume(
            run_id,
            fakes.bench(1000.0),
            procedure=SampleGasProcedure(),
            time_scale=1000.0,
            auto_answer=lambda p: DEFAULT_ANSWERS[p.key],
        )
        assert handle.wait(60) == RunStatus.COMPLETED, handle.final_reason
        with lab.read() as s:
            stored = list(
                s.scalars(select(Reading.seq).where(Reading.run_id == run_id).order_by(Reading.seq))
            )
            results = {
                r.test_point: r for r in s.scalars(select(Result).where(Result.run_id == run_id))
            }
            assert verify(s).ok
            s.expunge_all()
        assert stored[: len(seqs)] == seqs  # everything from before the kill is still there
        assert set(results) == {"P1", "P2"}
        for name, certified in (("P1", 400.0), ("P2", 1000.0)):
            rec = record_of(results[name])
            assert rec.extra("n") == 3
            ind = rec.indication
            # equal within noise to an uninterrupted run: the fake's settled indication
            assert abs(ind.magnitude - (1.01 * certified + 2.0)) < 0.3
