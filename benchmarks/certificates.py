"""Benchmark: render, sign three times and write the DCC for one certificate.

Prints the median and spread over several repetitions (PKI setup excluded), and
the split between the steps. Run: ``uv run python benchmarks/certificates.py [N]``.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time

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
    verify_pdf,
)
from lims.certificates.examples import example_document


def main(repeats: int = 7) -> None:
    ca = create_lab_ca("Benchmark CA", "Benchmark Lab", "ca-pw")
    signers: dict[Meaning, LabSigner] = {}
    for meaning, uid in zip(Meaning, ("a", "b", "c"), strict=True):
        creds = issue_user_credentials(
            ca, "ca-pw", user_id=uid, display_name=uid.upper(), user_password="pw"
        )
        signers[meaning] = load_signer(creds.pkcs12, "pw", ca=ca)
    # No assigned signatories: the benchmark's users are not the example's.
    doc = dataclasses.replace(example_document(CertificateType.VERIFICATION), signatories=())
    build_dcc(doc, _chain(doc, signers)[0])  # warm-up: font registration, schema compile

    totals: list[float] = []
    steps: dict[str, list[float]] = {"render": [], "sign x3": [], "dcc": [], "verify": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        pdf, t_render, t_sign = _chain(doc, signers)
        t1 = time.perf_counter()
        build_dcc(doc, pdf)
        t2 = time.perf_counter()
        totals.append(t2 - t0)
        steps["render"].append(t_render)
        steps["sign x3"].append(t_sign)
        steps["dcc"].append(t2 - t1)
        t3 = time.perf_counter()
        assert verify_pdf(pdf, [ca.certificate]).ok
        steps["verify"].append(time.perf_counter() - t3)

    print(f"certificate pipeline (render + 3 signatures + DCC), {repeats} runs:")
    print(
        f"  median {statistics.median(totals) * 1000:.0f} ms "
        f"(min {min(totals) * 1000:.0f} ms, max {max(totals) * 1000:.0f} ms)"
    )
    for name, values in steps.items():
        print(f"  {name:8s} median {statistics.median(values) * 1000:.0f} ms")
    print(f"  PDF {len(pdf) / 1024:.0f} KiB")


def _chain(
    doc: CertificateDocument, signers: dict[Meaning, LabSigner]
) -> tuple[bytes, float, float]:
    """The signed PDF, the seconds spent rendering it and signing it three times."""
    t0 = time.perf_counter()
    pdf = render_pdf(doc)
    t1 = time.perf_counter()
    for meaning in Meaning:
        pdf = sign_pdf(pdf, signers[meaning], meaning).pdf
    return pdf, t1 - t0, time.perf_counter() - t1


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
