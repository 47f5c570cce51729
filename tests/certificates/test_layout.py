"""The finished layout: the first page of each certificate type as PNG (artifacts), and no
table cell broken inside a word, a number with its unit or an identifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from lims.certificates import CertificateType, render_pdf
from lims.certificates.examples import example_document
from lims.certificates.model import CertificateDocument
from lims.certificates.numbers import row_texts
from lims.certificates.wrapping import break_lines, fitting_size, words_of
from tests.certificates.pdftext import (
    pdf_text,
    split_tokens,
    split_words,
    strings_of,
    to_png,
    tokens,
)

HEADERS = (
    "Certificate No.",
    "Uncertainty / class",
    "Traceable to",
    "Repeatability",
    "Reference",
    "Indication",
    "Accreditation No.",
    "Regulation table version",
    "Condition on receipt",
)


def _cases() -> dict[str, tuple[CertificateDocument, bool]]:
    return {
        "verification": (example_document(CertificateType.VERIFICATION), False),
        "calibration": (example_document(CertificateType.CALIBRATION), False),
        "amendment": (
            example_document(
                CertificateType.VERIFICATION, number="JD2025-000124", amendment_of="JD2025-000123"
            ),
            False,
        ),
        "draft": (example_document(CertificateType.VERIFICATION), True),
        "notice": (example_document(CertificateType.NON_CONFORMITY), False),
    }


def _differing_pixels(a: Path, b: Path) -> int:
    from PIL import Image, ImageChops

    with Image.open(a) as ia, Image.open(b) as ib:
        diff = ImageChops.difference(ia.convert("L"), ib.convert("L"))
        histogram = diff.histogram()
        return sum(histogram[13:])


def _expected(doc: CertificateDocument) -> set[str]:
    texts = [*strings_of(doc.content_record()), *HEADERS]
    for section in doc.sections:
        for row in section.rows:
            t = row_texts(row)
            texts += [t.value, t.uncertainty, t.limit, t.point]
    return tokens(texts)


@pytest.mark.parametrize("name", list(_cases()))
def test_first_page_png_and_no_word_split(name: str, out_dir: Path) -> None:
    doc, draft = _cases()[name]
    pdf = out_dir / f"layout-{name}.pdf"
    pdf.write_bytes(render_pdf(doc, draft=draft))
    pngs = to_png(pdf, out_dir / f"layout-{name}-page", dpi=100)
    assert len(pngs) == 1
    assert pngs[0].stat().st_size > 10_000
    text = pdf_text(pdf)
    expected = _expected(doc)
    assert split_tokens(text, expected) == []
    assert split_words(pdf, expected) == []
    if draft:  # the mark (diagonal, so checked on the image): many pixels differ
        clean = out_dir / "layout-draft-unmarked.pdf"
        clean.write_bytes(render_pdf(doc))
        unmarked = to_png(clean, out_dir / "layout-draft-unmarked-page", dpi=100)[0]
        assert _differing_pixels(pngs[0], unmarked) > 5000
        assert "草" in pdf_text(pdf, 1, 1)
        assert "草" not in pdf_text(clean, 1, 1)
    if name == "amendment":  # the cover fits page 1: page 2 starts with the body
        assert "修订版" in pdf_text(pdf, 1, 1)
        assert "委托单位" not in pdf_text(pdf, 2, 2)


def test_split_check_finds_what_cjk_wrapping_breaks(tmp_path: Path) -> None:
    """The check itself, on a cell wrapped the old way (reportlab's CJK wrapping)."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table

    from lims.certificates.fonts import register_fonts

    style = ParagraphStyle("c", fontName=register_fonts(), fontSize=7.5, wordWrap="CJK")
    cells = [[Paragraph("证书编号 / Certificate No.", style), Paragraph("GBW(E)061050", style)]]
    path = tmp_path / "cjk.pdf"
    SimpleDocTemplate(str(path)).build([Table(cells, colWidths=[52, 38])])
    found = split_words(path, {"Certificate", "GBW(E)061050"})
    assert any(f.startswith("Certifica|") or f.startswith("GBW(E)") for f in found), found


def test_split_check_finds_a_broken_word() -> None:
    """The check itself: a word broken across two lines is reported."""
    assert split_tokens("证书编号 / Certifica\nte No.", {"Certificate"}) == ["Certifica|te"]
    assert split_tokens("GBW(E)061\n050", {"GBW(E)061050"}) == ["GBW(E)061|050"]
    assert split_tokens("Certificate\nNo.", {"Certificate", "No."}) == []


def test_lines_break_between_words_and_chinese_characters_only() -> None:
    font = "Helvetica"
    lines = break_lines("证书编号 / Certificate No. GBW(E)061050", font, 7.5, 60)
    joined = " ".join(lines)
    for word in ("Certificate", "No.", "GBW(E)061050"):
        assert any(word in line for line in lines), (word, lines)
    assert "证书编号" in joined.replace(" ", "")
    # too narrow for the identifier: the cell shrinks its font rather than cutting it
    size = fitting_size("GBW(E)061050", font, 7.5, 40)
    assert size < 7.5
    assert break_lines("GBW(E)061050", font, size, 40) == ["GBW(E)061050"]
    # full-width colon never starts a line
    for width in range(20, 80, 3):
        assert not any(
            ln.startswith("：") for ln in break_lines("原因：维修后复检", font, 9, width)
        )
    atoms = [w for w, _ in words_of("不合格（待定）：A-1")]
    assert atoms == ["不", "合", "格", "（待", "定）：", "A-1"]
