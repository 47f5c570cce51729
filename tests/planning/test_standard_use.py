"""A standard is used only inside its calibrated range and before its certificate's end.

The flow standard of the demo lab gets a new certificate: a DCC this lab issued (4 … 40 m³/h,
U = 0.3 %, k = 2), imported as if another lab had calibrated the standard. The demo
flowmeter's registered range (0.5 … 10 m³/h) then reaches below what that certificate covers,
so the run is refused, with the reason, by the same rules in preflight and in the engine.
Expected ranges come from the example document the DCC was made from and the regulation
table, never from the plan the code builds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lims.certificates import CertificateType
from lims.certificates.examples import example_document
from lims.db import Database
from lims.models import Result, RunStatus
from lims.quality.dcc_intake import read_dcc
from lims.quality.standard_certificates import CertificateData, parse_range, parse_value
from lims.quality.standards import add_certificate
from lims.services.planning import ParameterSource
from lims.services.planning.preflight import CheckLine, preflight
from lims.services.planning.service import PlanRequest, plan_run
from lims.services.runs import RunOutcome, SilentWatcher, execute_run
from lims.units import parse_quantity
from tests.certificate_service.builder import lab_database, user
from tests.planning.test_run_plans import BENCHES, _expected_flows, _item
from tests.quality._dcc import issued_dcc, sign_xml


@pytest.fixture
def lab(db_url: str) -> Iterator[Database]:
    """The demo lab with signing keys, on SQLite and PostgreSQL."""
    database = lab_database(db_url)
    try:
        yield database
    finally:
        database.dispose()


def _dcc_points() -> list[float]:
    doc = example_document(CertificateType.CALIBRATION)
    return [float(r.point.to("m**3/h").magnitude) for r in doc.sections[0].rows]


def _flow_line(lines: list[CheckLine], tag: str = "STD-FLOW-001") -> CheckLine:
    (line,) = [ln for ln in lines if tag in ln.what]
    return line


def _run(db: Database, item_id: int) -> RunOutcome | None:
    return execute_run(
        db,
        bench_path=BENCHES / "gas-flowmeter.toml",
        operator="zhang",
        item_id=item_id,
        auto=True,
        watcher=SilentWatcher(),
    )


def test_an_imported_dcc_bounds_the_flow_standard_and_the_run_is_refused(
    lab: Database, tmp_path: Path
) -> None:
    d = issued_dcc()
    reading = read_dcc(
        sign_xml(d.xml, d.signer_key_pem, d.signer_cert_pem), trust_roots=[d.ca_certificate]
    )
    today = date.today()
    # The example DCC is dated 2025; the demo standard's certificate in force is newer. The
    # imported one is made the newest by its dates (what is checked is its range).
    data = replace(
        reading.to_data(valid_until=today + timedelta(days=300)),
        calibrated_on=today - timedelta(days=5),
        issued_on=today - timedelta(days=3),
    )
    qm = user(lab, "chen")
    with lab.write(actor=qm, reason="new certificate of the flow standard (DCC)") as s:
        add_certificate(s, qm, tmp_path / "archive", "STD-FLOW-001", data)

    item_id = _item(lab, "jjg1037-gas-flowmeter")
    planned = plan_run(lab, PlanRequest(item_id, BENCHES / "gas-flowmeter.toml", "zhang"))
    # the plan takes the standard's U from its newest certificate
    big_u = planned.plan.parameter("standard_U")
    assert big_u is not None
    assert big_u.source is ParameterSource.REGISTER
    (dcc_u,) = {float(v.expanded_uncertainty.to("percent").magnitude) for v in reading.values}
    assert parse_quantity(big_u.text).to("percent").magnitude == pytest.approx(dcc_u)

    flows = [q for _, q in _expected_flows(0.5, 10.0)]
    low, high = min(_dcc_points()), max(_dcc_points())
    assert min(flows) < low  # the item's lowest flow lies below the DCC's range
    line = _flow_line(preflight(lab, planned, today))
    assert not line.ok
    assert "超出校准范围" in line.reason
    assert f"{low:g} … {high:g}" in line.reason

    outcome = _run(lab, item_id)
    assert outcome is not None
    assert outcome.status is RunStatus.REFUSED
    assert "超出校准范围" in outcome.reason
    with lab.read() as s:
        assert s.scalar(select(func.count(Result.id))) == 0


def test_a_certificate_that_ended_refuses_the_run_and_a_covering_one_lets_it_run(
    lab: Database, tmp_path: Path
) -> None:
    today = date.today()
    qm = user(lab, "chen")
    ended = CertificateData(
        "NIM-FLOW-OLD",
        "中国计量科学研究院 NIM",
        today - timedelta(days=100),  # newer than the demo certificate (120 days)
        today - timedelta(days=98),
        today - timedelta(days=1),
        (parse_value("volume flow (relative error)=0 %;U=0.2 %;k=2"),),
        (parse_range("volume flow=0.05..200 m**3/h"),),
    )
    with lab.write(actor=qm, reason="certificate of the flow standard") as s:
        add_certificate(s, qm, tmp_path / "archive", "STD-FLOW-001", ended)
    item_id = _item(lab, "jjg1037-gas-flowmeter")
    planned = plan_run(lab, PlanRequest(item_id, BENCHES / "gas-flowmeter.toml", "zhang"))
    line = _flow_line(preflight(lab, planned, today))
    assert not line.ok
    assert "NIM-FLOW-OLD" in line.reason
    assert (today - timedelta(days=1)).isoformat() in line.reason
    outcome = _run(lab, item_id)
    assert outcome is not None
    assert outcome.status is RunStatus.REFUSED

    renewed = CertificateData(
        "NIM-FLOW-NEW",
        "中国计量科学研究院 NIM",
        today - timedelta(days=3),
        today - timedelta(days=2),
        today + timedelta(days=360),
        (parse_value("volume flow (relative error)=0 %;U=0.2 %;k=2"),),
        (parse_range("volume flow=0.05..200 m**3/h"),),
    )
    with lab.write(actor=qm, reason="renewed certificate of the flow standard") as s:
        add_certificate(s, qm, tmp_path / "archive", "STD-FLOW-001", renewed)
    planned = plan_run(lab, PlanRequest(item_id, BENCHES / "gas-flowmeter.toml", "zhang"))
    assert _flow_line(preflight(lab, planned, today)).ok
    outcome = _run(lab, item_id)
    assert outcome is not None
    assert outcome.status is RunStatus.COMPLETED
