"""The certificates of the on-site procedures: a belt scale and a CO2 CEMS verified at the
demo power station, marked as done during the visit, drafted, signed three times and
issued. Each PDF and DCC verifies (signatures to the lab CA, content against the records),
the DCC validates against the DCC 3.1.2 schema and says the work was done at the
customer's, and both state the site and measuring point; a run of the same lab not marked
on site states the lab."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from lims.certificates.dcc import dcc_schema
from lims.config import Settings, sqlite_url_for
from lims.db import Database
from lims.models import Certificate, RunStatus, Site
from lims.services.certificates import verify_certificate_file
from lims.services.demo import DEMO_ADMIN, DEMO_LAB, seed_demo
from lims.services.demo_certificates import issue_demo_certificate
from lims.services.demo_onsite import mark_demo_run_on_site
from lims.services.lab import initialize, open_database, policy_from
from lims.services.runs import SilentWatcher, execute_run
from tests.procedures.simrun import EXAMPLES, item_of

NS = {"dcc": "https://ptb.de/dcc"}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Database, Settings]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_url_for(tmp_path / "data"))
    db = open_database(settings)
    initialize(db, settings, DEMO_LAB, *DEMO_ADMIN)
    from datetime import date

    with db.write(actor="system:demo", reason="demo lab seed") as s:
        seed_demo(s, policy_from(settings), date.today())
    try:
        yield db, settings
    finally:
        db.dispose()


def _run(db: Database, procedure: str, bench: str) -> int:
    outcome = execute_run(
        db,
        bench_path=EXAMPLES / bench,
        operator="zhang",
        item_id=item_of(db, procedure),
        procedure_id=procedure,
        auto=True,
        watcher=SilentWatcher(),
    )
    assert outcome is not None
    assert outcome.status == RunStatus.COMPLETED, outcome.reason
    return outcome.run_id


@pytest.mark.parametrize(
    ("procedure", "bench"),
    [("jjg195-belt-scale", "belt-scale.toml"), ("hj75-co2-cems", "co2-cems.toml")],
)
def test_on_site_certificate_states_the_site_and_verifies(
    lab: tuple[Database, Settings], procedure: str, bench: str
) -> None:
    db, settings = lab
    run_id = _run(db, procedure, bench)
    assert mark_demo_run_on_site(db, run_id, item_of(db, procedure), "zhang")
    issued = issue_demo_certificate(db, settings, run_id)
    with db.read() as s:
        site = s.scalars(select(Site)).one()
        content = s.scalars(
            select(Certificate.content).where(Certificate.number == issued.number)
        ).one()
        plant, point = site.plant, site.point
    assert issued.type == "verification_certificate"  # the example benches pass
    for path in (issued.pdf, issued.dcc):
        result = verify_certificate_file(db, path.read_bytes(), str(path))
        assert result.ok, result.summary()
    root = etree.fromstring(issued.dcc.read_bytes())
    dcc_schema().validate(root)
    assert root.findtext(".//dcc:coreData/dcc:performanceLocation", namespaces=NS) == "customer"
    assert "North China Power Station 2" in str(content)
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler's pdftotext is not installed")
    text = subprocess.run(
        ["pdftotext", "-layout", str(issued.pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())  # the location cell wraps: look for its parts
    assert "地点 / Location" in flat
    for part in ("现场：华北第二电厂", "on site: North China Power", "conveyor C3", "port A"):
        assert part in flat, part
    assert plant.startswith("华北第二电厂")
    assert "stack 1" in point


def test_a_run_not_marked_on_site_states_the_lab(lab: tuple[Database, Settings]) -> None:
    db, settings = lab
    run_id = _run(db, "jjg1148-ac-pile", "ac-pile.toml")
    assert not mark_demo_run_on_site(db, run_id, item_of(db, "jjg1148-ac-pile"), "zhang")
    issued = issue_demo_certificate(db, settings, run_id)
    root = etree.fromstring(issued.dcc.read_bytes())
    assert root.findtext(".//dcc:coreData/dcc:performanceLocation", namespaces=NS) == "laboratory"
