"""``lims run jjg635 ... --auto`` killed with SIGKILL at random moments loses no
acknowledged reading; ``lims run resume RUN_ID`` is refused while another process executes
the run and, once its owner is dead, completes it with exactly the readings and results of
an uninterrupted run (the simulated bench runs on a virtual clock the engine drives, and
its state at each step boundary is kept with the run).

The command runs in children forked from a server that has imported ``lims`` once
(``kill_zygote.py``): the same ``lims`` entry point with the same arguments, without
paying the interpreter start-up per trial. ``--json-stream`` prints ``{"ack": N}``
whenever readings up to N are durably committed; that is what the killed process had
acknowledged.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lims.audit import verify
from lims.db import Database
from lims.engine.journal import journal_items
from lims.models import Reading, Result, Run, RunStatus
from lims.results_legacy import record_of
from lims.services.demo import DEMO_USERS
from tests.procedures.gas_bench import EXAMPLES, demo_lab

ROOT = Path(__file__).resolve().parents[2]
PACE = 2000.0  # simulated seconds per wall second: an uninterrupted run lasts ~2.5 s
TRIALS = 20


class Zygote:
    """The fork server, talking JSON lines."""

    def __init__(self, db_url: str, tmp: Path) -> None:
        env = {
            **os.environ,
            "LIMS_DATABASE_URL": db_url,
            "LIMS_DATA_DIR": str(tmp),
            "PYTHONUNBUFFERED": "1",
            # a SIGKILLed run cannot remove its simulator's pseudo-terminal links: keep
            # them inside the test's own directory
            "TMPDIR": str(tmp),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.procedures.kill_zygote"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _ask(self, request: list[Any]) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def spawn(self, out: Path, *argv: str) -> int:
        return self._ask([str(out), *argv])

    def wait(self, pid: int) -> int:
        return self._ask(["wait", pid])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def stream(out: Path) -> list[dict[str, Any]]:
    lines = out.read_text("utf-8").splitlines() if out.exists() else []
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut by the kill
    return parsed


def wait_for_run_id(out: Path, timeout_s: float = 60.0) -> int:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for obj in stream(out):
            if "run_id" in obj:
                return int(obj["run_id"])
        time.sleep(0.01)
    raise AssertionError(f"no run id from lims run: {out.with_suffix('.json.err').read_text()}")


def valid_readings(db: Database, run_id: int) -> list[tuple[str, str, str, float, str]]:
    """The readings the completed steps count (a killed step's attempt is kept but not
    counted), as (step, point, quantity, magnitude, unit), in order."""
    with db.read() as s:
        run = s.get(Run, run_id)
        assert run is not None
        ranges = [(v["first_seq"], v["last_seq"]) for v in run.provenance["steps"].values()]
        return [
            (r.step, r.test_point, r.quantity, r.magnitude, r.unit)
            for r in s.scalars(
                select(Reading).where(Reading.run_id == run_id).order_by(Reading.seq)
            )
            if any(lo <= r.seq <= hi for lo, hi in ranges)
        ]


def results_of(db: Database, run_id: int) -> list[tuple[Any, ...]]:
    """Every result's point, item, value, U and verdict, exactly."""
    with db.read() as s:
        out = []
        for row in s.scalars(select(Result).where(Result.run_id == run_id).order_by(Result.id)):
            r = record_of(row)
            u = r.uncertainty.expanded.magnitude if r.uncertainty else None
            out.append((r.point.key, r.characteristic.value, r.value.magnitude, u, r.verdict))
        return out


def seqs_and_values(db: Database, run_id: int) -> list[tuple[int, str, float]]:
    """Every acknowledged reading: in the run's chain or still in its journal."""
    with db.read() as s:
        chained = [
            (r.seq, r.quantity, r.magnitude)
            for r in s.scalars(
                select(Reading).where(Reading.run_id == run_id).order_by(Reading.seq)
            )
        ]
        journaled = [
            (int(i["seq"]), str(i["quantity"]), float(i["magnitude"]))
            for i in journal_items(s, run_id)
            if i.get("kind") != "io"
        ]
    return sorted(chained + journaled)


def trials(db_url: str, tmp: Path, n: int, seed: int, db: Database | None = None) -> None:
    db = db or demo_lab(db_url)
    bench = EXAMPLES / "gas-analyzer.toml"
    pw = tmp / "pw"
    pw.write_text(next(u.password for u in DEMO_USERS if u.username == "zhang") + "\n")
    base = ["--bench", str(bench), "--operator", "zhang", "--password-file", str(pw), "--auto"]
    paced = [*base, "--pace", f"{PACE:g}"]
    zygote = Zygote(db_url, tmp)
    rng = random.Random(seed)
    try:
        # the uninterrupted reference run
        out = tmp / "reference.json"
        pid = zygote.spawn(out, "run", "jjg635", "--item", "1", *base, "--json-stream")
        assert zygote.wait(pid) == 0, out.with_suffix(".json.err").read_text()
        reference_id = wait_for_run_id(out)
        reference = valid_readings(db, reference_id), results_of(db, reference_id)
        interrupted = 0
        for trial in range(n):
            out = tmp / f"trial{trial}.json"
            pid = zygote.spawn(out, "run", "jjg635", "--item", "1", *paced, "--json-stream")
            run_id = wait_for_run_id(out)
            if trial == 0:
                # one owner per run: a resume while the run executes is refused
                busy = tmp / "busy.json"
                code = zygote.wait(zygote.spawn(busy, "run", "resume", str(run_id), *base))
                err = busy.with_suffix(".json.err").read_text("utf-8")
                assert code == 12, err
                assert f"run {run_id} is executed by process {pid}" in err
            time.sleep(rng.uniform(0.2, 2.2))
            os.kill(pid, signal.SIGKILL)
            killed = zygote.wait(pid)
            # 0: the run ended just before the kill landed (checked below: completed)
            assert killed in (-signal.SIGKILL, 0), killed
            acked = max((o["ack"] for o in stream(out) if "ack" in o), default=0)
            before = seqs_and_values(db, run_id)
            seqs = [s for s, _, _ in before]
            assert seqs == list(range(1, len(seqs) + 1)), f"trial {trial}: gap in readings"
            assert len(seqs) >= acked, f"trial {trial}: acknowledged reading lost"
            with db.read() as s:
                status = s.get(Run, run_id).status  # type: ignore[union-attr]
            if status == RunStatus.COMPLETED:
                continue  # the kill came after the end: nothing to resume
            assert killed == -signal.SIGKILL, f"trial {trial}: exit 0 but run is {status}"
            interrupted += 1
            # killed before the rule checks passed (queued) or while running
            assert status in (RunStatus.QUEUED, RunStatus.RUNNING), status
            out = tmp / f"resume{trial}.json"
            # the owner is dead on this host: its lease is free at once
            pid = zygote.spawn(out, "run", "resume", str(run_id), *base, "--json")
            code = zygote.wait(pid)
            assert code == 0, f"trial {trial}: resume exit {code}: " + out.with_suffix(
                ".json.err"
            ).read_text("utf-8")
            final = json.loads(out.read_text("utf-8"))
            assert final["run_id"] == run_id
            assert final["status"] == "completed"
            after = seqs_and_values(db, run_id)
            assert after[: len(before)] == before, f"trial {trial}: readings changed"
            # exactly the uninterrupted run's readings and results
            assert valid_readings(db, run_id) == reference[0], f"trial {trial}: readings differ"
            assert results_of(db, run_id) == reference[1], f"trial {trial}: results differ"
        assert interrupted >= n * 3 // 4, f"only {interrupted} of {n} kills interrupted a run"
        with db.read() as s:
            report = verify(s)
            assert report.ok, [str(p) for p in report.problems]
    finally:
        zygote.close()
        db.dispose()


def test_sigkill_twenty_times_on_sqlite(tmp_path: Path) -> None:
    # two lanes of ten trials side by side, each with its own database and fork server
    failures: list[BaseException] = []

    dbs = []
    for i in range(2):  # migrations are not thread-safe: prepare both databases first
        (tmp_path / f"lane{i}").mkdir()
        url = f"sqlite:///{tmp_path / f'lane{i}' / 'lims.sqlite3'}"
        dbs.append((url, demo_lab(url)))

    def lane(i: int) -> None:
        url, db = dbs[i]
        try:
            trials(url, tmp_path / f"lane{i}", TRIALS // 2, seed=635 + i, db=db)
        except BaseException as exc:  # re-raised in the test thread
            failures.append(exc)

    lanes = [threading.Thread(target=lane, args=(i,)) for i in range(2)]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join()
    if failures:
        raise failures[0]


def test_sigkill_once_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    trials(pg_url, tmp_path, 1, seed=2011)
