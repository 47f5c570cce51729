"""The certificate preview shows signature appearances (QPdfView leaves them out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from lims.certificates import (
    Meaning,
    create_lab_ca,
    issue_user_credentials,
    load_signer,
    render_pdf,
    sign_pdf,
)
from lims.certificates.examples import example_document
from lims.certificates.render import PAGE_HEIGHT, signature_boxes
from ui.pdf_preview import DPI, PdfPreview, rasterize

CA_PASSWORD = "ca-pass-预览"


def _dark_share(image: QImage, rect: tuple[float, float, float, float]) -> float:
    """Share of dark pixels strictly inside a signature box (its border excluded)."""
    scale = DPI / 72
    x1, y1, x2, y2 = rect
    left, right = int(x1 * scale) + 4, int(x2 * scale) - 4
    top, bottom = int((PAGE_HEIGHT - y2) * scale) + 4, int((PAGE_HEIGHT - y1) * scale) - 4
    dark = total = 0
    for y in range(top, bottom, 2):
        for x in range(left, right, 2):
            total += 1
            dark += image.pixelColor(x, y).lightness() < 160
    return dark / total


@pytest.fixture(scope="module")
def signed_pdf() -> tuple[bytes, bytes]:
    doc = example_document()
    unsigned = render_pdf(doc)
    ca = create_lab_ca("预览 Root CA (test)", "预览实验室", CA_PASSWORD)
    creds = issue_user_credentials(
        ca, CA_PASSWORD, user_id="zhang.wei", display_name="张伟 Zhang Wei", user_password="pw-z"
    )
    signer = load_signer(creds.pkcs12, "pw-z", ca=ca)
    return unsigned, sign_pdf(unsigned, signer, Meaning.PERFORMED).pdf


def test_preview_draws_the_signature_appearance(
    qtbot: QtBot, signed_pdf: tuple[bytes, bytes], screenshot_dir: Path
) -> None:
    unsigned, signed = signed_pdf
    preview = PdfPreview()
    qtbot.addWidget(preview)
    preview.resize(700, 900)
    assert preview.show_pdf(signed)
    assert preview.signatures_shown
    assert preview.page_count >= 2
    performed, reviewed, _ = signature_boxes()
    page1 = preview.images[0]
    # the signed box holds the appearance (name, meaning, time); the unsigned ones stay empty
    assert _dark_share(page1, performed.rect) > 0.01
    assert _dark_share(page1, reviewed.rect) == 0
    before = rasterize(unsigned)
    assert before is not None
    assert _dark_share(before[0], performed.rect) == 0
    preview.show()
    qtbot.waitExposed(preview)
    preview.grab().save(str(screenshot_dir / "certificate_preview_signed.png"))
    page1.save(str(screenshot_dir / "certificate_preview_signed_page1.png"))


def test_preview_clears(qtbot: QtBot, signed_pdf: tuple[bytes, bytes]) -> None:
    preview = PdfPreview()
    qtbot.addWidget(preview)
    assert preview.show_pdf(signed_pdf[1])
    assert not preview.show_pdf(None)
    assert preview.page_count == 0
