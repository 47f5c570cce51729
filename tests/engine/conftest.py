"""Fixtures of the engine tests: a migrated database holding the demo lab."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from lims.db import Database
from lims.engine import Event, RunEngine, RunHandle, RunRequest
from lims.models import User
from lims.security import PasswordPolicy
from lims.services.demo import seed_demo
from lims.services.users import grant_authorization
from tests.engine.sample_procedure import SampleGasProcedure

PROC_ID = "test-gas"
STANDARDS = ("STD-GAS-001",)
MATERIALS = ("RM-CO2-0400", "RM-CO2-1000")
TODAY = date.today()


def seed_lab(db: Database) -> None:
    """The demo lab, with zhang and li authorized for the test procedure."""
    with db.write(actor="test-setup") as s:
        seed_demo(s, PasswordPolicy(), TODAY)
        chen = s.scalars(select(User).where(User.username == "chen")).one()
        for name in ("zhang", "li"):
            user = s.scalars(select(User).where(User.username == name)).one()
            grant_authorization(
                s,
                user,
                PROC_ID,
                TODAY - timedelta(days=10),
                TODAY + timedelta(days=300),
                granted_by=chen,
            )


@pytest.fixture
def lab(db: Database) -> Database:
    """A database (on each backend) holding the demo lab."""
    seed_lab(db)
    return db


class Recorder:
    """Collects a run's events; answers prompts like an operator would."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def operator_answers(answers: dict[str, Any]) -> Callable[[Any], Any]:
    """An auto-answerer giving the listed answers in turn per prompt key (last one repeats)."""
    given: dict[str, int] = {}

    def answer(prompt: Any) -> Any:
        if prompt.key not in answers:
            return None  # left for the operator
        seq = answers[prompt.key]
        if not isinstance(seq, list):
            return seq
        i = given.get(prompt.key, 0)
        given[prompt.key] = i + 1
        return seq[min(i, len(seq) - 1)]

    return answer


DEFAULT_ANSWERS = {"connect": True, "display_range": "2000 umol/mol"}


def start_run(
    db: Database,
    instruments: dict[str, Any],
    *,
    time_scale: float = 1000.0,
    procedure: SampleGasProcedure | None = None,
    operator: str = "zhang",
    simulated: bool = True,
    practice: bool = False,
    answers: dict[str, Any] | None = None,
    standards: tuple[str, ...] = STANDARDS,
    materials: tuple[str, ...] = MATERIALS,
    recorder: Recorder | None = None,
) -> RunHandle:
    """Start the sample procedure on fake instruments."""
    request = RunRequest(
        procedure=procedure or SampleGasProcedure(),
        instruments=instruments,
        operator=operator,
        bench_name="fake-gas-bench",
        simulated=simulated,
        practice=practice,
        time_scale=time_scale,
        standards=standards,
        reference_materials=materials,
        auto_answer=operator_answers(answers if answers is not None else DEFAULT_ANSWERS),
    )
    return RunEngine(db).start(request, subscribers=[recorder] if recorder else [])
