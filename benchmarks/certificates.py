"""Benchmark: draft, sign three times (with timestamps), issue (B-LTA) and write the signed DCC.

Two pipelines on the same machine, so their ratio is meaningful:

* ``B-B``: render + 3 signatures + DCC (the pipeline before timestamps);
* ``B-LTA``: render + 3 timestamped signatures (the lab TSA, in-process) + DSS and
  document timestamp + DCC + its XML signature.

Prints the median and spread over several repetitions (PKI setup excluded), and the
split between the steps. Run: ``uv run python benchmarks/certificates.py [N]``.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from typing import Any

from lims.certificates import (
    CertificateDocument,
    CertificateType,
    LabSigner,
    Meaning,
    build_dcc,
    create_lab_ca,
    issue_user_credentials,
    load_signer,
    render_pdf,
    sign_pdf,
    verify_dcc,
    verify_pdf,
)
from lims.certificates.dcc_signature import sign_dcc
from lims.certificates.examples import example_document
from lims.certificates.ltv import ValidationData, add_validation_data
from lims.certificates.tsa import issue_crl, issue_tsa_credentials, lab_timestamper


def main(repeats: int = 7) -> None:
    ca = create_lab_ca("Benchmark CA", "Benchmark Lab", "ca-pw")
    tsa = issue_tsa_credentials(ca, "ca-pw")
    data = ValidationData(ca.certificate, (issue_crl(ca, "ca-pw", number=1),), tsa.certificate)
    stamper = lab_timestamper(tsa, ca.certificate)
    signers: dict[Meaning, LabSigner] = {}
    for meaning, uid in zip(Meaning, ("a", "b", "c"), strict=True):
        creds = issue_user_credentials(
            ca, "ca-pw", user_id=uid, display_name=uid.upper(), user_password="pw"
        )
        signers[meaning] = load_signer(creds.pkcs12, "pw", ca=ca)
    # No assigned signatories: the benchmark's users are not the example's.
    doc = dataclasses.replace(example_document(CertificateType.VERIFICATION), signatories=())
    build_dcc(doc, _chain(doc, signers, None)[0])  # warm-up: font registration, schema compile

    approver = signers[Meaning.APPROVED]
    for label, timestamper in (("B-B", None), ("B-LTA", stamper)):
        totals: list[float] = []
        steps: dict[str, list[float]] = {
            "render": [], "sign x3": [], "ltv": [], "dcc": [], "verify": []
        }  # fmt: skip
        for _ in range(repeats):
            t0 = time.perf_counter()
            pdf, t_render, t_sign = _chain(doc, signers, timestamper)
            t1 = time.perf_counter()
            if timestamper is not None:
                pdf = add_validation_data(pdf, timestamper, data)
            t2 = time.perf_counter()
            xml = build_dcc(doc, pdf)
            if timestamper is not None:
                xml = sign_dcc(xml, approver.private_key, approver.certificate, [ca.certificate])
            t3 = time.perf_counter()
            totals.append(t3 - t0)
            steps["render"].append(t_render)
            steps["sign x3"].append(t_sign)
            steps["ltv"].append(t2 - t1)
            steps["dcc"].append(t3 - t2)
            t4 = time.perf_counter()
            report = verify_pdf(pdf, [ca.certificate])
            assert report.ok
            assert report.long_term is (timestamper is not None)
            if timestamper is not None:
                assert verify_dcc(xml, [ca.certificate]).ok
            steps["verify"].append(time.perf_counter() - t4)
        print(
            f"{label}: certificate pipeline (render + 3 signatures + issue + DCC), {repeats} runs:"
        )
        print(
            f"  median {statistics.median(totals) * 1000:.0f} ms "
            f"(min {min(totals) * 1000:.0f} ms, max {max(totals) * 1000:.0f} ms)"
        )
        for name, values in steps.items():
            print(f"  {name:8s} median {statistics.median(values) * 1000:.0f} ms")
        print(f"  PDF {len(pdf) / 1024:.0f} KiB, DCC {len(xml) / 1024:.0f} KiB")


def _chain(
    doc: CertificateDocument, signers: dict[Meaning, LabSigner], timestamper: Any
) -> tuple[bytes, float, float]:
    """The signed PDF, the seconds spent rendering it and signing it three times."""
    t0 = time.perf_counter()
    pdf = render_pdf(doc)
    t1 = time.perf_counter()
    for meaning in Meaning:
        pdf = sign_pdf(pdf, signers[meaning], meaning, timestamper=timestamper).pdf
    return pdf, t1 - t0, time.perf_counter() - t1


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
