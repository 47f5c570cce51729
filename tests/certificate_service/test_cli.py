"""`lims certificate` end to end in-process: draft, sign ×3, show, list, export, verify, amend."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from lims.models import Verdict
from tests.certificate_service.builder import PASSWORDS, Point, lab_database, make_gas_run
from tests.lims._cli import Outcome, one_error_line, run_main


@dataclass
class Cli:
    """The command line on a demo lab with one completed run."""

    tmp: Path
    run_id: int
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str) -> Outcome:
        env = {"LIMS_DATA_DIR": str(self.tmp / "lab")}
        return run_main(list(args), env, self.monkeypatch, self.capsys)

    def as_user(self, name: str) -> list[str]:
        """``--user NAME --password-file FILE``."""
        return ["--user", name, "--password-file", str(self.tmp / name)]

    def sign(self, number: str, name: str, meaning: str) -> Outcome:
        return self(
            "certificate", "sign", number, "--as", name, "--meaning", meaning,
            "--password-file", str(self.tmp / name),
        )  # fmt: skip


@pytest.fixture
def lims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    data = tmp_path / "lab"
    data.mkdir()
    db = lab_database(f"sqlite:///{data / 'lims.sqlite3'}")
    run_id = make_gas_run(db, 1, [Point("P20", 400.0, 3.0, 9.0, Verdict.PASS)])
    db.dispose()
    for name, password in PASSWORDS.items():
        (tmp_path / name).write_text(password + "\n", encoding="utf-8")
    return Cli(tmp_path, run_id, monkeypatch, capsys)


def test_certificate_commands(lims: Cli) -> None:
    tmp = lims.tmp
    r = lims("certificate", "draft", str(lims.run_id), *lims.as_user("zhang"), "--json")
    assert r.code == 0, r.err
    number = json.loads(r.out)["number"]
    assert json.loads(r.out)["status"] == "draft"

    # Out of order: one clear line, non-zero exit, nothing signed.
    assert "waits for the performed signature" in one_error_line(
        lims.sign(number, "li", "reviewed")
    )
    for who, meaning in (("zhang", "performed"), ("li", "reviewed"), ("wang", "approved")):
        r = lims.sign(number, who, meaning)
        assert r.code == 0, r.err
    # The approval anchored the audit chain outside the database, at its newest event.
    anchors = (tmp / "lab" / "audit-anchors.jsonl").read_text("utf-8").splitlines()
    assert len(anchors) == 1
    assert lims("audit", "verify").code == 0
    r = lims("certificate", "show", number, *lims.as_user("zhao"), "--json")
    shown = json.loads(r.out)
    assert shown["status"] == "issued"
    assert [s["meaning"] for s in shown["signatures"]] == ["performed", "reviewed", "approved"]

    pdf, xml = tmp / "c.pdf", tmp / "c.xml"
    assert lims("certificate", "pdf", number, "-o", str(pdf), *lims.as_user("zhao")).code == 0
    assert lims("certificate", "dcc", number, "-o", str(xml), *lims.as_user("zhao")).code == 0
    # The run is simulated: intact and signed, but never a valid certificate (exit 4).
    r = lims("certificate", "verify", str(pdf))
    assert r.code == 4, r.out
    assert "SIMULATED" in r.out
    assert "模拟" in r.out
    assert lims("certificate", "verify", str(xml)).code == 4

    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x20
    bad = tmp / "bad.pdf"
    bad.write_bytes(bytes(data))
    r = lims("certificate", "verify", str(bad))
    assert r.code == 1
    assert "ALTERED" in r.out
    assert "does not chain" not in r.out

    r = lims("certificate", "list", *lims.as_user("zhao"), "--status", "issued", "--json")
    assert r.code == 0, r.err
    assert [h["number"] for h in json.loads(r.out)] == [number]

    r = lims(
        "certificate", "amend", number, "--reason", "address corrected",
        *lims.as_user("wang"), "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    amendment = json.loads(r.out)
    assert amendment["replaces"] == number
    assert amendment["number"] != number
    assert "does not exist" in one_error_line(lims.sign("NO-SUCH-1", "zhang", "performed"))
