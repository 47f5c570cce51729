"""A PDF shown inside the application, from bytes the services return, signatures included.

Qt PDF (QPdfView, and QPdfDocument.render even with its Annotations flag) leaves the
signature fields' appearances out: a signed certificate would show three empty boxes.
The preview therefore shows the pages as poppler's ``pdftoppm`` rasterizes them (form
fields and their signature appearances drawn, as a PDF reader shows them); without
``pdftoppm`` it falls back to Qt PDF's own rendering and says so in the log.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtPdf import QPdfDocument
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout, QWidget

log = logging.getLogger(__name__)

DPI = 110
"""Resolution the pages are rasterized at (they are scaled to the view's width)."""
_TIMEOUT_S = 60


def rasterize(data: bytes, dpi: int = DPI) -> list[QImage] | None:
    """Every page of ``data`` as an image with its signature appearances (``pdftoppm``);
    None when poppler is not installed or cannot read the file."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="lims-preview-") as tmp:
        src = Path(tmp) / "doc.pdf"
        src.write_bytes(data)
        try:
            subprocess.run(
                [exe, "-r", str(dpi), "-png", str(src), str(Path(tmp) / "page")],
                check=True,
                capture_output=True,
                timeout=_TIMEOUT_S,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("pdftoppm could not render the preview: %s", exc)
            return None
        pages = sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
        images = [QImage(str(p)) for p in pages]
    return [im for im in images if not im.isNull()] or None


def _qt_render(data: bytes) -> list[QImage]:
    """The pages as Qt PDF renders them (without signature appearances)."""
    document = QPdfDocument()
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    document.load(buffer)
    images = []
    if document.status() == QPdfDocument.Status.Ready:
        for i in range(document.pageCount()):
            size = document.pagePointSize(i)
            scale = DPI / 72
            images.append(
                document.render(i, QSize(int(size.width() * scale), int(size.height() * scale)))
            )
    document.close()
    buffer.close()
    return images


class PdfPreview(QScrollArea):
    """Shows one PDF, all pages scrolling, fitted to the width, signatures drawn."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pdf_preview")
        self.setWidgetResizable(True)
        self._pages_box = QWidget()
        self._layout = QVBoxLayout(self._pages_box)
        self._layout.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self._layout.setSpacing(8)
        self.setWidget(self._pages_box)
        self.images: list[QImage] = []
        self.signatures_shown = False
        """Whether the pages show signature appearances (rasterized by poppler)."""
        self._labels: list[QLabel] = []

    def show_pdf(self, data: bytes | None) -> bool:
        """Show ``data`` (None clears); True when the document loaded."""
        for label in self._labels:
            self._layout.removeWidget(label)
            label.deleteLater()
        self._labels = []
        self.images = []
        self.signatures_shown = False
        if not data:
            return False
        images = rasterize(data)
        if images is not None:
            self.signatures_shown = True
        else:
            log.warning("pdftoppm (poppler-utils) missing: signature appearances not shown")
            images = _qt_render(data)
        self.images = images
        for i, _ in enumerate(images):
            label = QLabel()
            label.setObjectName(f"pdf_page_{i + 1}")
            self._layout.addWidget(label)
            self._labels.append(label)
        self._fit()
        return bool(images)

    def _fit(self) -> None:
        width = max(self.viewport().width() - 24, 200)
        for label, image in zip(self._labels, self.images, strict=True):
            label.setPixmap(
                QPixmap.fromImage(image).scaledToWidth(
                    width, Qt.TransformationMode.SmoothTransformation
                )
            )

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        """Keep the pages fitted to the width."""
        super().resizeEvent(event)
        self._fit()

    @property
    def page_count(self) -> int:
        """Pages of the document shown (0 when none)."""
        return len(self.images)


class PdfDialog(QDialog):
    """A window showing one PDF."""

    def __init__(self, title: str, data: bytes, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pdf_dialog")
        self.setWindowTitle(title)
        self.preview = PdfPreview(self)
        QVBoxLayout(self).addWidget(self.preview)
        self.preview.show_pdf(data)
        self.resize(820, 900)
