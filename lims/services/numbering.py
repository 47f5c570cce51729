"""Certificate numbers: unique and gapless per year, also with many benches at once.

A number is taken inside the transaction that creates the certificate: the
year's counter row is incremented with ``UPDATE ... RETURNING``, which holds
the row lock until commit. Concurrent transactions queue on that lock, and a
transaction that rolls back returns its number with it, so the numbers of the
certificates that exist have no gaps. A rejected draft keeps its number
(status rejected): every number stays accounted for.

The counter is an audited record: each number taken appends an event holding
the counter's new value, so ``lims audit verify`` names a counter moved behind
the application's back, and checks the numbering against the certificates
(:func:`numbering_problems`). A counter moved back (its next number is taken
already) is refused at the next draft with one line, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Table, distinct, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lims.audit import AuditProblem, log_event
from lims.models import Certificate, CertificateSequence, LabProfile

_SEQ: Table = CertificateSequence.__table__  # type: ignore[assignment]
_SEQ_TABLE = "certificate_sequences"


class NumberingError(ValueError):
    """The lab's certificate-number pattern cannot be used."""


def format_number(pattern: str, prefix: str, year: int, seq: int) -> str:
    """Apply the lab's pattern, e.g. ``"{prefix}{year}-{seq:05d}"`` -> ``"CM2026-00042"``."""
    try:
        return pattern.format(prefix=prefix, year=year, seq=seq)
    except (KeyError, IndexError, ValueError) as exc:
        raise NumberingError(
            f"certificate-number pattern {pattern!r} is invalid: use {{prefix}}, {{year}}, {{seq}}"
        ) from exc


def take_sequence(session: Session, year: int) -> int:
    """Take the next sequence number of ``year`` (locked until the transaction ends).

    The change of the counter goes into the audit trail. :class:`NumberingError`
    when the counter no longer follows the year's certificates (moved back: the
    number is taken already; moved forward: a gap would open).
    """
    dialect = session.get_bind().dialect.name
    ins = pg_insert(_SEQ) if dialect == "postgresql" else sqlite_insert(_SEQ)
    inserted = session.execute(
        ins.values(year=year, last=0).on_conflict_do_nothing(index_elements=["year"])
    )
    created = cast(CursorResult[Any], inserted).rowcount == 1
    taken = int(
        session.execute(
            update(_SEQ)
            .where(_SEQ.c.year == year)
            .values(last=_SEQ.c.last + 1)
            .returning(_SEQ.c.last)
        ).scalar_one()
    )
    highest = session.scalar(select(func.max(Certificate.sequence)).where(Certificate.year == year))
    if highest is not None and taken <= int(highest):
        raise NumberingError(
            f"the certificate counter of {year} was moved back: it gives number {taken}, "
            f"but the year's certificates reach {highest}; nothing was drafted "
            "(run `lims audit verify`)"
        )
    state = {"year": year, "last": taken}
    if created:
        log_event(session, "create", _SEQ_TABLE, str(year), state=state)
    else:
        log_event(
            session,
            "update",
            _SEQ_TABLE,
            str(year),
            changes={"last": [taken - 1, taken]},
            state=state,
        )
    return taken


def next_certificate_number(session: Session, year: int) -> tuple[str, int]:
    """The next certificate number of ``year`` from the lab's pattern, and its sequence."""
    lab = session.scalars(select(LabProfile).limit(1)).one_or_none()
    if lab is None:
        raise NumberingError("no lab profile: run `lims init` first")
    seq = take_sequence(session, year)
    number = format_number(lab.certificate_number_pattern, lab.certificate_prefix, year, seq)
    holder = session.scalar(select(Certificate.id).where(Certificate.number == number))
    if holder is not None:
        raise NumberingError(
            f"certificate number {number} is taken already (certificate {holder}); "
            "nothing was drafted"
        )
    return number, seq


@dataclass
class _Year:
    """One year's numbering, summed up while the certificates stream by."""

    highest: int = 0
    reused: int | None = None
    missing: int = 0
    first_missing: list[int] = field(default_factory=list)

    def take(self, seq: int, previous: int | None) -> None:
        if previous is not None and seq == previous and self.reused is None:
            self.reused = seq
        low = max(previous or 0, 0)
        if seq > low + 1:
            self.missing += seq - low - 1
            self.first_missing += list(range(low + 1, min(seq, low + 6)))[
                : 5 - len(self.first_missing)
            ]
        self.highest = max(self.highest, seq)


def _numbering_adds_up(session: Session) -> bool:
    """True when the database's aggregates show every year numbered 1..counter, each
    sequence and number once: what :func:`numbering_problems` then need not stream."""
    counters = {int(y): int(last) for y, last in session.execute(select(_SEQ.c.year, _SEQ.c.last))}
    per_year = select(
        Certificate.year,
        func.count(),
        func.count(distinct(Certificate.sequence)),
        func.min(Certificate.sequence),
        func.max(Certificate.sequence),
    ).group_by(Certificate.year)
    seen: set[int] = set()
    for y, n, once, low, high in session.execute(per_year):
        seen.add(int(y))
        if not (n == once == high == counters.get(int(y)) and low == 1):
            return False
    if any(last != 0 for y, last in counters.items() if y not in seen):
        return False
    total, numbers = session.execute(
        select(func.count(), func.count(distinct(Certificate.number)))
    ).one()
    return bool(total == numbers)


def numbering_problems(session: Session) -> list[AuditProblem]:
    """The numbering checked against the certificates: no gap, no reuse, head = highest.

    Rejected drafts keep their numbers, so every number from 1 to the counter of a
    year must belong to exactly one certificate of that year. The database's aggregates
    settle the common case; otherwise the certificates stream in number order, to name
    what is wrong: memory does not grow with their count.
    """
    if _numbering_adds_up(session):
        return []
    problems: list[AuditProblem] = []
    twice = (
        select(Certificate.number, func.count())
        .group_by(Certificate.number)
        .having(func.count() > 1)
        .order_by(Certificate.number)
    )
    for number, count in session.execute(twice):
        problems.append(
            AuditProblem("numbering", f"certificate number {number}", f"used {count} times")
        )
    counters = {
        int(y): int(last)
        for y, last in session.execute(select(_SEQ.c.year, _SEQ.c.last).order_by(_SEQ.c.year))
    }
    years: dict[int, _Year] = {}
    year: int | None = None
    previous: int | None = None
    taken = select(Certificate.year, Certificate.sequence).order_by(
        Certificate.year, Certificate.sequence
    )
    for y, seq in session.execute(taken.execution_options(yield_per=5000)):
        if y != year:
            year, previous = int(y), None
        years.setdefault(int(y), _Year()).take(int(seq), previous)
        previous = int(seq)
    for y in sorted(set(years) | set(counters)):
        found = years.get(y, _Year())
        where = f"certificate numbering of {y}"
        if found.reused is not None:
            problems.append(
                AuditProblem("numbering", where, f"sequence {found.reused} is used more than once")
            )
        if found.missing:
            shown = ", ".join(map(str, found.first_missing)) + (" …" if found.missing > 5 else "")
            problems.append(
                AuditProblem("numbering", where, f"gap: no certificate holds sequence {shown}")
            )
        head = counters.get(y)
        if head is None:
            problems.append(
                AuditProblem(
                    "numbering", where, f"has certificates up to {found.highest} but no counter"
                )
            )
        elif head != found.highest:
            problems.append(
                AuditProblem(
                    "numbering",
                    where,
                    f"the counter stands at {head} but the highest number taken is {found.highest}",
                )
            )
    return problems


@dataclass(frozen=True)
class NumberTaken:
    """A certificate's place in the numbering: its year, sequence and number."""

    year: int
    sequence: int
    number: str

    @classmethod
    def from_state(cls, state: Any) -> NumberTaken | None:
        """From a certificate's audited state; None when it names no number."""
        try:
            return cls(int(state["year"]), int(state["sequence"]), str(state["number"]))
        except (KeyError, TypeError, ValueError):
            return None


def _year_still_numbered(
    before: list[int], after: list[int], counter_before: int, counter_after: int
) -> bool:
    """Sequences 1..``counter_before`` each once, less ``before`` plus ``after``, are
    1..``counter_after`` each once."""
    removed, added = set(before), set(after)
    if len(removed) != len(before) or len(added) != len(after):
        return False
    if any(not 1 <= s <= counter_before for s in removed):
        return False
    if any(
        not 1 <= s <= counter_after or (s <= counter_before and s not in removed) for s in added
    ):
        return False
    return counter_before - len(removed) + len(added) == counter_after


def numbering_adds_up_since(
    session: Session,
    before: dict[int, NumberTaken | None],
    counters_before: dict[int, int | None],
) -> bool:
    """True when the numbering a verification found intact still adds up after the changes
    since: ``before`` holds the place each certificate changed since had then (None: none
    yet), ``counters_before`` each changed year's counter then (None: not yet kept).

    Every other certificate and counter is as it was then (its row version says so), so
    only the changed ones are compared: each year still numbered 1..counter, each sequence
    once, and each of their numbers held by one certificate. False means the whole
    numbering must be checked (:func:`numbering_problems` names what is wrong)."""
    ids = sorted(before)
    after: dict[int, NumberTaken] = {}
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(
                Certificate.id, Certificate.year, Certificate.sequence, Certificate.number
            ).where(Certificate.id.in_(ids[i : i + 500]))
        )
        after |= {int(r.id): NumberTaken(int(r.year), int(r.sequence), str(r.number)) for r in rows}
    counters = {int(y): int(last) for y, last in session.execute(select(_SEQ.c.year, _SEQ.c.last))}
    years: dict[int, tuple[list[int], list[int]]] = {}
    for places, side in ((before, 0), (after, 1)):
        for place in places.values():
            if place is not None:
                years.setdefault(place.year, ([], []))[side].append(place.sequence)
    for year in set(years) | set(counters_before):
        old = counters_before.get(year, counters.get(year)) or 0
        removed, added = years.get(year, ([], []))
        if not _year_still_numbered(removed, added, old, counters.get(year, 0)):
            return False
    numbers = sorted({p.number for p in after.values()})
    for i in range(0, len(numbers), 500):
        twice = session.execute(
            select(Certificate.number)
            .where(Certificate.number.in_(numbers[i : i + 500]))
            .group_by(Certificate.number)
            .having(func.count() > 1)
            .limit(1)
        ).first()
        if twice is not None:
            return False
    return True
