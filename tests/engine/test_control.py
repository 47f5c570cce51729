"""Pause, resume, stop and abort; instrument errors pause; operator entries are validated."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from lims.db import Database
from lims.engine import (
    Message,
    PromptRequested,
    ReadingTaken,
    StateChanged,
    StepFinished,
    StepStarted,
)
from lims.models import Reading, Result, Run, RunStatus
from lims.results_legacy import record_of
from tests.engine import fakes
from tests.engine.conftest import Recorder, start_run


class _Hook(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[tuple[Any, Any, threading.Event]] = []

    def when(self, pred: Any, action: Any) -> threading.Event:
        done = threading.Event()
        self.hooks.append((pred, action, done))
        return done

    def __call__(self, event: Any) -> None:
        super().__call__(event)
        for pred, action, done in self.hooks:
            if not done.is_set() and pred(event):
                done.set()
                action(event)


def _run(db: Database, run_id: int) -> tuple[RunStatus, str, str | None]:
    with db.read() as s:
        run = s.get(Run, run_id)
        assert run is not None
        return run.status, run.status_reason, run.last_completed_step


def test_pause_holds_and_resume_continues(lab: Database) -> None:
    rec = _Hook()
    holder: dict[str, Any] = {}
    rec.when(lambda e: isinstance(e, StepStarted) and e.step == "P1", lambda e: holder["h"].pause())
    paused = rec.when(
        lambda e: isinstance(e, StateChanged) and e.new == RunStatus.PAUSED, lambda e: None
    )
    handle = start_run(lab, fakes.bench(1000.0), recorder=rec, time_scale=1000.0)
    holder["h"] = handle
    assert paused.wait(30)
    assert _run(lab, handle.run_id)[0] == RunStatus.PAUSED
    n = len(rec.of(ReadingTaken))
    assert handle.wait(0.3) is None  # still held
    assert len(rec.of(ReadingTaken)) == n  # nothing measured while paused
    handle.resume()
    assert handle.wait(60) == RunStatus.COMPLETED
    states = [e.new for e in rec.of(StateChanged)]
    assert states == [
        RunStatus.RUNNING,
        RunStatus.PAUSED,
        RunStatus.RUNNING,
        RunStatus.COMPLETED,
    ]


def test_stop_finishes_step_then_ends_aborted_keeping_data(lab: Database) -> None:
    rec = _Hook()
    holder: dict[str, Any] = {}
    rec.when(lambda e: isinstance(e, StepStarted) and e.step == "P1", lambda e: holder["h"].stop())
    inst = fakes.bench(1000.0)
    handle = start_run(lab, inst, recorder=rec)
    holder["h"] = handle
    assert handle.wait(60) == RunStatus.ABORTED
    _, reason, last = _run(lab, handle.run_id)
    assert "stopped by operator" in reason
    assert last == "P1"  # the step in progress was finished
    assert [e.step for e in rec.of(StepFinished)] == ["setup", "P1"]
    with lab.read() as s:
        p1 = s.scalar(
            select(func.count()).where(
                Reading.run_id == handle.run_id,
                Reading.test_point == "P1",
                Reading.quantity == "indication",
            )
        )
    assert p1 == 3
    assert all(i.safe_calls >= 1 for i in inst.values())


def test_abort_during_step_is_immediate_and_safe(lab: Database) -> None:
    rec = _Hook()
    holder: dict[str, Any] = {}
    rec.when(
        lambda e: isinstance(e, ReadingTaken) and e.test_point == "P2",
        lambda e: holder["h"].abort(),
    )
    inst = fakes.bench(1000.0)
    handle = start_run(lab, inst, recorder=rec)
    holder["h"] = handle
    assert handle.wait(60) == RunStatus.ABORTED
    _, reason, last = _run(lab, handle.run_id)
    assert "aborted by operator" in reason
    assert last == "P1"  # P2 never completed
    taken = {e.seq for e in rec.of(ReadingTaken)}
    with lab.read() as s:
        stored = set(s.scalars(select(Reading.seq).where(Reading.run_id == handle.run_id)))
    assert stored == taken  # what was measured is kept
    assert all(i.safe_calls >= 1 for i in inst.values())
    with lab.read() as s:
        assert s.scalar(select(func.count()).where(Result.run_id == handle.run_id)) == 0


def test_abort_while_waiting_for_the_operator(lab: Database) -> None:
    rec = _Hook()
    asked = rec.when(lambda e: isinstance(e, PromptRequested), lambda e: None)
    handle = start_run(lab, fakes.bench(1000.0), recorder=rec, answers={})
    assert asked.wait(30)
    prompt = rec.of(PromptRequested)[0]
    assert prompt.key == "connect"
    assert handle.wait(0.2) is None  # waits for the operator
    handle.abort()
    assert handle.wait(30) == RunStatus.ABORTED
    assert _run(lab, handle.run_id)[2] is None


def test_operator_answers_prompt_through_handle(lab: Database) -> None:
    rec = _Hook()
    holder: dict[str, Any] = {}
    rec.when(
        lambda e: isinstance(e, PromptRequested) and e.key == "connect",
        lambda e: holder["h"].answer(e.prompt_id, "是"),
    )
    handle = start_run(
        lab, fakes.bench(1000.0), recorder=rec, answers={"display_range": "2000 umol/mol"}
    )
    holder["h"] = handle
    assert handle.wait(60) == RunStatus.COMPLETED


def test_bad_entries_are_refused_and_asked_again(lab: Database) -> None:
    rec = Recorder()
    answers = {
        "connect": True,
        "display_range": ["2000 kPa", "2000", "5e9 umol/mol", "0.2 %vol"],
    }
    handle = start_run(lab, fakes.bench(1000.0), recorder=rec, answers=answers)
    assert handle.wait(60) == RunStatus.COMPLETED
    prompts = [p for p in rec.of(PromptRequested) if p.key == "display_range"]
    assert len(prompts) == 4
    assert prompts[0].error == ""
    assert "wrong dimension" in prompts[1].error
    assert "missing unit" in prompts[2].error
    assert "plausible range" in prompts[3].error
    warnings = [m.text for m in rec.of(Message) if "display_range" in m.text]
    assert len(warnings) == 3
    assert all(m.level == "warning" for m in rec.of(Message) if "display_range" in m.text)
    with lab.read() as s:
        entered = s.scalars(
            select(Reading).where(
                Reading.run_id == handle.run_id, Reading.quantity == "display_range"
            )
        ).all()
        assert len(entered) == 1  # refused entries change nothing
        # 0.2 %vol = 2000 µmol/mol, accepted with the unit the operator typed
        assert (entered[0].magnitude, entered[0].unit) == (0.2, "percent_vol")


def test_instrument_error_pauses_and_resume_loses_nothing(lab: Database) -> None:
    rec = _Hook()
    inst = fakes.bench(1000.0)
    analyzer = inst["analyzer"]
    holder: dict[str, Any] = {}

    def fail_next(_: Any) -> None:
        analyzer.fail_calls = 1

    rec.when(
        lambda e: (
            isinstance(e, ReadingTaken) and e.test_point == "P2" and e.quantity == "indication"
        ),
        fail_next,
    )
    paused = rec.when(
        lambda e: isinstance(e, StateChanged) and e.new == RunStatus.PAUSED, lambda e: None
    )
    handle = start_run(lab, inst, recorder=rec)
    holder["h"] = handle
    assert paused.wait(30)
    status, reason, last = _run(lab, handle.run_id)
    assert status == RunStatus.PAUSED
    assert "instrument error in step P2" in reason
    assert "MEAS?" in reason  # names the command that failed
    assert last == "P1"
    assert analyzer.safe_calls >= 1  # instruments made safe while paused
    handle.resume()
    assert handle.wait(60) == RunStatus.COMPLETED, handle.final_reason
    taken = sorted(e.seq for e in rec.of(ReadingTaken))
    with lab.read() as s:
        stored = list(
            s.scalars(
                select(Reading.seq).where(Reading.run_id == handle.run_id).order_by(Reading.seq)
            )
        )
        results = {
            r.test_point: r for r in s.scalars(select(Result).where(Result.run_id == handle.run_id))
        }
        s.expunge_all()
    assert stored == taken == list(range(1, len(taken) + 1))  # no reading lost, none twice
    # the failed attempt's reading is kept in the database but not used in the result
    p2 = [e for e in rec.of(ReadingTaken) if e.test_point == "P2" and e.quantity == "indication"]
    assert len(p2) == 4
    assert record_of(results["P2"]).extra("n") == 3
    assert results["P2"].first_seq == p2[1].seq
    starts = [e.attempt for e in rec.of(StepStarted) if e.step == "P2"]
    assert starts == [1, 2]
