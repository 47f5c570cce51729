"""The PDF: bilingual text, number and page x of y on every page, fonts embedded, QR, watermark."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import segno

from lims.certificates import CertificateType, qr_payload, render_pdf
from lims.certificates.examples import example_document
from lims.certificates.render import QR_BOX, format_quantity, unit_text
from lims.units import Q_

from .conftest import SignedCase

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdffonts) not installed"
)


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def _pages(pdf_path: Path) -> list[str]:
    text = _run("pdftotext", "-layout", str(pdf_path), "-")
    return text.split("\f")[:-1]


def _write(tmp_path: Path, pdf: bytes, name: str = "c.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(pdf)
    return path


@pytest.mark.parametrize("kind", list(CertificateType))
def test_every_page_carries_number_and_page_x_of_y(
    kind: CertificateType, signed: dict[CertificateType, SignedCase], tmp_path: Path
) -> None:
    case = signed[kind]
    pages = _pages(_write(tmp_path, case.pdf))
    total = len(pages)
    assert total >= 2
    for i, page in enumerate(pages, start=1):
        assert f"证书编号 / Certificate No.: {case.doc.number}" in page
        assert f"第 {i} 页 共 {total} 页 / Page {i} of {total}" in page
        assert "not to be reproduced except in" in page.replace("\n", " ").lower() or (
            "Not to be reproduced except in" in page
        )
    assert "—— 以下空白 / End of certificate ——" in pages[-1]
    assert all("以下空白" not in p for p in pages[:-1])


def test_text_extracts_in_chinese_and_english(
    signed: dict[CertificateType, SignedCase], tmp_path: Path
) -> None:
    case = signed[CertificateType.VERIFICATION]
    text = "\n".join(_pages(_write(tmp_path, case.pdf)))
    for expected in (
        "检定证书",
        "Verification Certificate",
        "委托单位 / Customer",
        "示例能源有限公司 Example Energy Co., Ltd.",
        "二氧化碳红外气体分析器",
        "CO2 infrared gas analyzer",
        "有效期至 / Valid until",
        "2026-05-11",
        "计量标准及标准物质 / Standards and reference materials used",
        "GBW(E)061234",
        "环境条件 / Environmental conditions",
        "22 °C",
        "55%",
        "101.3 kPa",
        "判定规则 / Decision rule",
        "偏离与例外 / Deviations and overrides",
        "原始记录号 / Original record No.",
        "RUN-2025-05-12-0007",
        "1005 µmol/mol",
        "0.25%FS",
        "0.50%FS",
        "(k=2)",
        "±2%FS",
        "本证书的结果仅对所检定/校准的器具有效",
        "检定员 / Verified by",
        "核验员 / Checked by",
        "批准人 / Approved by",
        case.doc.content_hash(),
        "含尚未与官方文本核对的数值",
    ):
        assert expected in text, expected
    assert "模拟数据" not in text


def test_notice_lists_failed_items_and_has_no_validity(
    signed: dict[CertificateType, SignedCase], tmp_path: Path
) -> None:
    text = "\n".join(_pages(_write(tmp_path, signed[CertificateType.NON_CONFORMITY].pdf)))
    assert "检定结果通知书" in text
    assert "不合格项目 / Failed items" in text
    assert re.search(r"示值误差 / Indication error: 不合格 / fail", text)
    assert "有效期至 / Valid until" not in text


def _red_pixels_per_page(pdf_path: Path, tmp_path: Path) -> list[int]:
    """Pixels of the watermark's light red tint (not the dark red notices), per page at 40 dpi."""
    import numpy as np
    from PIL import Image

    prefix = tmp_path / pdf_path.stem
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf_path), str(prefix)], check=True)
    counts = []
    for png in sorted(tmp_path.glob(f"{pdf_path.stem}-*.png")):
        rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        tint = (r > 225) & (g < r - 20) & (g > 160) & (np.abs(g - b) < 20)
        counts.append(int(tint.sum()))
    return counts


def test_simulated_watermark_on_every_page(
    signed: dict[CertificateType, SignedCase], tmp_path: Path
) -> None:
    case = signed[CertificateType.CALIBRATION]
    assert case.doc.simulated
    path = _write(tmp_path, case.pdf, "sim.pdf")
    pages = _pages(path)
    # pdftotext drops diagonal text, so the watermark is checked on the rendered pages,
    # and its words in the page content (watermark glyphs are the only large red text).
    red = _red_pixels_per_page(path, tmp_path)
    assert len(red) == len(pages)
    # The same document, not simulated: only the watermark differs in light red tint.
    same_real = dataclasses.replace(case.doc, simulated=False)
    real = _red_pixels_per_page(_write(tmp_path, render_pdf(same_real), "real.pdf"), tmp_path)
    assert len(real) == len(red)
    assert all(s - r > 1000 for s, r in zip(red, real, strict=True)), (red, real)
    text = "\n".join(pages)
    assert "本证书数据来自模拟检定台，非有效证书" in text
    assert "校准证书" in text
    assert "Calibration Certificate" in text
    assert "校准员 / Calibrated by" in text
    assert "No recalibration interval is recommended" in text


@pytest.mark.parametrize("kind", list(CertificateType))
def test_every_font_is_embedded(
    kind: CertificateType, signed: dict[CertificateType, SignedCase], tmp_path: Path
) -> None:
    for stage, pdf in enumerate((signed[kind].unsigned, signed[kind].pdf)):
        lines = _run("pdffonts", str(_write(tmp_path, pdf, f"{stage}.pdf"))).splitlines()[2:]
        assert lines, "no font listed"
        for line in lines:
            columns = line.split()
            emb = columns[-5]
            assert emb == "yes", line
            assert "WenQuanYiMicroHei" in columns[0], line


def test_qr_code_carries_number_and_hash(tmp_path: Path) -> None:
    """Rasterize page 1 and compare the printed QR modules with segno's matrix."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed")
    from PIL import Image

    doc = example_document(number="QR-0001")
    path = _write(tmp_path, render_pdf(doc))
    dpi = 300
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-f",
            "1",
            "-l",
            "1",
            "-gray",
            "-png",
            str(path),
            str(tmp_path / "p"),
        ],
        check=True,
    )
    image = Image.open(next(tmp_path.glob("p*.png"))).convert("L")
    expected = segno.make(f"CARBON-LIMS-CERT\nNO:QR-0001\nSHA256:{doc.content_hash()}", error="m")
    assert qr_payload(doc.number, doc.content_hash()) == (
        f"CARBON-LIMS-CERT\nNO:QR-0001\nSHA256:{doc.content_hash()}"
    )
    matrix = [list(r) for r in expected.matrix]
    n = len(matrix)
    x0, y0, size = QR_BOX
    module = size / (n + 8)
    scale = dpi / 72
    page_h = image.height / scale
    mismatches = 0
    for r in range(n):
        for c in range(n):
            x = (x0 + (c + 4.5) * module) * scale
            y = (page_h - (y0 + size - (r + 4.5) * module)) * scale
            dark = image.getpixel((round(x), round(y))) < 128
            mismatches += dark != bool(matrix[r][c])
    assert mismatches == 0


def test_unit_and_number_formatting() -> None:
    assert unit_text(Q_(1, "µmol/mol")) == "µmol/mol"
    assert unit_text(Q_(1, "percent_FS")) == "%FS"
    assert unit_text(Q_(1, "L/min")) == "L/min"
    assert unit_text(Q_(1, "m³/h")) == "m³/h"
    assert format_quantity(Q_(20.0, "degC")) == "20 °C"
    assert format_quantity(Q_(0.25, "percent_FS"), 2) == "0.25%FS"
    assert format_quantity(Q_(5.0, "µmol/mol"), 1) == "5.0 µmol/mol"
    assert format_quantity(Q_(1e-5, "kWh")) == "0.00001 kWh"
