"""A PDF shown inside the application (Qt PDF), from bytes the services return."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget


class PdfPreview(QPdfView):
    """Shows one PDF, all pages scrolling, fitted to the width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]  # the stub forgets None
        self.setObjectName("pdf_preview")
        # Not a child of the view: Qt would destroy it after the view, while a page is
        # still being rendered for the view (a crash). It lives as long as this object.
        self.pdf = QPdfDocument()
        self.setDocument(self.pdf)
        self.setPageMode(QPdfView.PageMode.MultiPage)
        self.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self._buffer: QBuffer | None = None

    def show_pdf(self, data: bytes | None) -> bool:
        """Show ``data`` (None clears); True when the document loaded."""
        self.pdf.close()
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
        if not data:
            return False
        buffer = QBuffer(self.pdf)  # the document reads from it: it lives with the document
        buffer.setData(QByteArray(data))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self._buffer = buffer
        self.pdf.load(buffer)
        return self.pdf.status() == QPdfDocument.Status.Ready

    @property
    def page_count(self) -> int:
        """Pages of the document shown (0 when none)."""
        return int(self.pdf.pageCount())


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
