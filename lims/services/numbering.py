"""Certificate numbers: unique and gapless per year, also with many benches at once.

A number is taken inside the transaction that creates the certificate: the
year's counter row is incremented with ``UPDATE ... RETURNING``, which holds
the row lock until commit. Concurrent transactions queue on that lock, and a
transaction that rolls back returns its number with it, so the numbers of the
certificates that exist have no gaps. A rejected draft keeps its number
(status rejected): every number stays accounted for.
"""

from __future__ import annotations

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lims.models import CertificateSequence, LabProfile

_SEQ: Table = CertificateSequence.__table__  # type: ignore[assignment]


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
    """Take the next sequence number of ``year`` (locked until the transaction ends)."""
    dialect = session.get_bind().dialect.name
    ins = pg_insert(_SEQ) if dialect == "postgresql" else sqlite_insert(_SEQ)
    session.execute(ins.values(year=year, last=0).on_conflict_do_nothing(index_elements=["year"]))
    taken = session.execute(
        update(_SEQ).where(_SEQ.c.year == year).values(last=_SEQ.c.last + 1).returning(_SEQ.c.last)
    ).scalar_one()
    return int(taken)


def next_certificate_number(session: Session, year: int) -> tuple[str, int]:
    """The next certificate number of ``year`` from the lab's pattern, and its sequence."""
    lab = session.scalars(select(LabProfile).limit(1)).one_or_none()
    if lab is None:
        raise NumberingError("no lab profile: run `lims init` first")
    seq = take_sequence(session, year)
    return format_number(lab.certificate_number_pattern, lab.certificate_prefix, year, seq), seq
