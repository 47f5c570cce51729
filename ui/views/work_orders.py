"""Work orders: receiving customers' instruments (inline validation) and the status board."""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QPageSize, QPdfWriter, QTextDocument
from PySide6.QtPrintSupport import QPrintPreviewDialog
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lims.db import Database
from lims.models.enums import ServiceKind
from lims.models.users import User
from lims.services.work_order_board import BoardPage, board_page
from lims.services.work_orders import (
    FieldProblem,
    InstrumentInput,
    ReceiptInput,
    WorkOrderError,
    WorkOrderRow,
    check_instrument,
    check_receipt,
    customer_names,
    parse_range_bound,
    procedure_choices,
    receive_instruments,
)
from ui.context import AppContext
from ui.i18n import STRINGS, tr
from ui.views.work_order_board import BoardPanel
from ui.widgets import MessageLine, fill_table

_ERROR_STYLE = "border: 2px solid #b00020;"

#: Instrument kinds offered (others may be typed).
KINDS = (
    "gas_analyzer",
    "gas_flowmeter",
    "ac_charging_pile",
    "dc_charger",
    "elemental_analyzer",
)

_ORDER_FIELDS = (
    ("customer_name", "wo.customer"),
    ("contact_name", "wo.contact"),
    ("contact_phone", "wo.phone"),
    ("received_on", "wo.received_on"),
    ("due_on", "wo.due_on"),
    ("notes", "wo.notes"),
)
_ITEM_FIELDS = (
    ("kind", "wo.kind"),
    ("description", "wo.description"),
    ("manufacturer", "wo.manufacturer"),
    ("model", "wo.model"),
    ("serial_number", "wo.serial"),
    ("range_min", "wo.range_min"),
    ("range_max", "wo.range_max"),
    ("accuracy", "wo.accuracy"),
    ("service", "wo.service"),
    ("procedure_id", "wo.procedure"),
    ("condition_on_receipt", "wo.condition"),
)


def receipt_html(row: WorkOrderRow, notes: str = "") -> str:
    """The receipt (收样单) of a registered work order as HTML, bilingual."""
    items = "".join(
        f"<tr><td>#{it.item_id}</td><td>{html.escape(it.description)}</td>"
        f"<td>{html.escape(it.model)}</td><td>{html.escape(it.serial_number)}</td>"
        f"<td>{STRINGS['service.' + it.service.value][0]} {it.service.value}</td>"
        f"<td>{html.escape(it.procedure_id)}</td></tr>"
        for it in row.items
    )
    due = row.due_on.isoformat() if row.due_on else "—"
    return (
        "<h2>收样单 Instrument receipt</h2>"
        f"<p><b>委托单号 Work order:</b> {html.escape(row.number)}<br>"
        f"<b>委托方 Customer:</b> {html.escape(row.customer)}<br>"
        f"<b>收样日期 Received on:</b> {row.received_on.isoformat()} &nbsp; "
        f"<b>要求完成日期 Due on:</b> {due}</p>"
        "<table border='1' cellspacing='0' cellpadding='4'>"
        "<tr><th>序号 No.</th><th>名称 Description</th><th>型号 Model</th>"
        "<th>出厂编号 Serial no.</th><th>服务 Service</th><th>规程 Procedure</th></tr>"
        f"{items}</table>"
        f"<p>{html.escape(notes)}</p>"
        "<p>委托方签字 Customer signature: ____________ &nbsp; "
        "收样人签字 Received by: ____________</p>"
    )


def load_board(db: Database, actor: User) -> tuple[BoardPage, list[str], list[str]]:
    """The board's first page, the customers' names and the procedure ids to offer."""
    with db.read() as s:
        return board_page(s, actor), customer_names(s, actor), procedure_choices(s, actor)


def save_receipt(db: Database, actor: User, data: ReceiptInput, today: date) -> WorkOrderRow:
    """Register the receipt (all or nothing)."""
    with db.write(actor=actor, reason="收样登记 instruments received") as s:
        return receive_instruments(s, actor, data, today)


def _narrow(combo: QComboBox) -> None:
    """Size a combo box by a short text, not by its longest item (the popup shows them all)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)


class _Field:
    """A form field: its widget, its label and the line that shows its error."""

    def __init__(self, widget: QLineEdit | QComboBox, key: str) -> None:
        self.widget = widget
        self.key = key
        self.label = QLabel()
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        self.error.hide()

    def text(self) -> str:
        """The text typed, or the value behind a choice shown in words (an instrument kind)."""
        w = self.widget
        if not isinstance(w, QComboBox):
            return w.text()
        i = w.findText(w.currentText())
        data = w.itemData(i) if i >= 0 else None
        return str(data) if isinstance(data, str) else w.currentText()

    def set_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))
        self.widget.setStyleSheet(_ERROR_STYLE if message else "")


class WorkOrdersView(QWidget):
    """Receive instruments (customer, instruments, work order) and watch the status board."""

    #: Emitted with the number of a work order just registered (the bench offers its items).
    registered = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("work_orders_view")
        self.board: list[WorkOrderRow] = []
        #: Open work orders in all, loaded or not (the board loads pages on demand).
        self.board_total = 0
        self.pending: list[InstrumentInput] = []
        self.last_saved: WorkOrderRow | None = None
        self.fields: dict[str, _Field] = {}

        self.order_box = QGroupBox()
        order_form = QFormLayout(self.order_box)
        for name, key in _ORDER_FIELDS:
            if name == "customer_name":
                combo = QComboBox()
                combo.setEditable(True)
                _narrow(combo)  # long customer names must not widen the form
                combo.setCurrentText("")
                w: QLineEdit | QComboBox = combo
            else:
                w = QLineEdit()
            w.setObjectName(name)
            self._add_field(order_form, name, w, key)
        self.item_box = QGroupBox()
        item_form = QFormLayout(self.item_box)
        for name, key in _ITEM_FIELDS:
            if name in ("kind", "procedure_id"):
                w = QComboBox()
                w.setEditable(True)
                _narrow(w)
                if name == "kind":
                    for kind in KINDS:
                        w.addItem("", kind)
            elif name == "service":
                w = QComboBox()
                for kind in ServiceKind:
                    w.addItem("", kind)
            else:
                w = QLineEdit()
            w.setObjectName(name)
            self._add_field(item_form, name, w, key)
        self.field("range_min").widget.setPlaceholderText("0 µmol/mol")
        self.field("range_max").widget.setPlaceholderText("2000 µmol/mol")
        received = self.field("received_on").widget
        assert isinstance(received, QLineEdit)
        received.setText(ctx.today().isoformat())
        self.field("received_on").widget.setPlaceholderText("YYYY-MM-DD")
        self.field("due_on").widget.setPlaceholderText("YYYY-MM-DD")

        self.add_button = QPushButton()
        self.add_button.setObjectName("add_item")
        self.add_button.clicked.connect(self.add_item)
        self.remove_button = QPushButton()
        self.remove_button.clicked.connect(self.remove_item)
        self.pending_label = QLabel()
        self.pending_table = QTableWidget()
        self.pending_table.setObjectName("pending_items")
        self.pending_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.pending_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.pending_table.setMaximumHeight(140)
        self.save_button = QPushButton()
        self.save_button.setObjectName("save_receipt")
        self.save_button.clicked.connect(self.save)
        self.message = MessageLine()
        self.message.setObjectName("receipt_message")
        self.print_button = QPushButton()
        self.print_button.setObjectName("print_receipt")
        self.print_button.setEnabled(False)
        self.print_button.clicked.connect(self.preview_receipt)
        self.preview: QPrintPreviewDialog | None = None
        self._receipt_doc: QTextDocument | None = None

        form_page = QWidget()
        fv = QVBoxLayout(form_page)
        fv.addWidget(self.order_box)
        fv.addWidget(self.item_box)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        fv.addLayout(row)
        fv.addWidget(self.pending_label)
        fv.addWidget(self.pending_table)
        fv.addWidget(self.save_button)
        fv.addWidget(self.print_button)
        fv.addWidget(self.message)
        fv.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_page)

        self.board_box = BoardPanel(ctx, self)
        self.board_box.page_loaded.connect(self._page_loaded)
        self.board_box.refresh_button.clicked.connect(self.refresh)
        self.tree = self.board_box.tree

        split = QSplitter()
        split.setObjectName("work_orders_split")
        split.addWidget(scroll)
        split.addWidget(self.board_box)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.retranslate()

    def _add_field(
        self, form: QFormLayout, name: str, widget: QLineEdit | QComboBox, key: str
    ) -> None:
        f = _Field(widget, key)
        self.fields[name] = f
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(1)
        v.addWidget(widget)
        v.addWidget(f.error)
        form.addRow(f.label, box)

    def field(self, name: str) -> _Field:
        """The form field called ``name`` (``customer_name``, ``serial_number``, ...)."""
        return self.fields[name]

    # -- texts -------------------------------------------------------------------------
    def retranslate(self) -> None:
        """Set every text in the current language."""
        self.order_box.setTitle(tr("wo.receive"))
        self.item_box.setTitle(tr("wo.instrument"))
        for f in self.fields.values():
            f.label.setText(tr(f.key))
        service = self.field("service").widget
        assert isinstance(service, QComboBox)
        for i in range(service.count()):
            service.setItemText(i, tr(f"service.{service.itemData(i)}"))
        kind = self.field("kind").widget
        assert isinstance(kind, QComboBox)
        for i in range(len(KINDS)):
            kind.setItemText(i, tr(f"kind.{kind.itemData(i)}"))
        self.add_button.setText(tr("wo.add_item"))
        self.remove_button.setText(tr("wo.remove_item"))
        self.pending_label.setText(tr("wo.pending"))
        self.save_button.setText(tr("wo.save"))
        self.print_button.setText(tr("wo.print"))
        self.board_box.retranslate()
        self._show_pending()
        self._show_board()

    # -- loading -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the board and the choices on a worker thread."""
        db, actor = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(
            lambda: load_board(db, actor), self._loaded, lambda e: self.message.error(str(e))
        )

    def _page_loaded(self, page: BoardPage) -> None:
        known = {row.number for row in self.board}
        new = [row for row in page.rows if row.number not in known]
        self.board += new
        self.board_total = page.total
        self.board_box.add_rows(new, self.board_total, len(self.board))

    def _loaded(self, result: tuple[BoardPage, list[str], list[str]]) -> None:
        page, customers, procedures = result
        self.board, self.board_total = list(page.rows), page.total
        for name, values in (("customer_name", customers), ("procedure_id", procedures)):
            combo = self.field(name).widget
            assert isinstance(combo, QComboBox)
            current = combo.currentText()
            combo.clear()
            combo.addItems(values)
            combo.setCurrentText(current)
        self._show_board()

    def _show_board(self) -> None:
        self.board_box.show_rows(self.board, self.board_total)

    def _show_pending(self) -> None:
        fill_table(
            self.pending_table,
            [tr("wo.description"), tr("wo.model"), tr("wo.serial"), tr("wo.procedure")],
            [[i.description, i.model, i.serial_number, i.procedure_id] for i in self.pending],
        )

    # -- validation --------------------------------------------------------------------
    def _clear_errors(self, names: tuple[tuple[str, str], ...]) -> None:
        for name, _key in names:
            self.field(name).set_error(None)

    def _show_problems(self, problems: list[FieldProblem]) -> None:
        unplaced: list[str] = []
        for p in problems:
            name = p.field.split(".")[-1]
            if name == "range":
                name = "range_min"
            if name in self.fields and (not p.field.startswith("items[") or not self.pending):
                self.field(name).set_error(p.message)
            elif name in self.fields and p.field.startswith("items["):
                unplaced.append(str(p))
            else:
                unplaced.append(str(p))
        self.message.error("\n".join([tr("wo.fix"), *unplaced]))

    def _instrument_from_form(self) -> tuple[InstrumentInput | None, list[FieldProblem]]:
        problems: list[FieldProblem] = []
        bounds: list[object] = []
        texts = [self.field(n).text().strip() for n in ("range_min", "range_max")]
        for name, text in zip(("range_min", "range_max"), texts, strict=True):
            if not any(texts):
                bounds.append(None)
                continue
            if not text:
                problems.append(FieldProblem(name, f"{tr(self.field(name).key)} 必填 is required"))
                bounds.append(None)
                continue
            try:
                bounds.append(parse_range_bound(text, name))
            except WorkOrderError as exc:
                problems.extend(exc.problems)
                bounds.append(None)
        service = self.field("service").widget
        assert isinstance(service, QComboBox)
        item = InstrumentInput(
            kind=self.field("kind").text().strip(),
            description=self.field("description").text().strip(),
            manufacturer=self.field("manufacturer").text().strip(),
            model=self.field("model").text().strip(),
            serial_number=self.field("serial_number").text().strip(),
            service=ServiceKind(service.currentData()),
            procedure_id=self.field("procedure_id").text().strip(),
            range_min=bounds[0],
            range_max=bounds[1],
            accuracy=self.field("accuracy").text().strip(),
            condition_on_receipt=self.field("condition_on_receipt").text().strip(),
        )
        if not problems:
            problems = check_instrument(item)
        return (None if problems else item), problems

    def _parse_date(self, name: str, problems: list[FieldProblem], required: bool) -> date | None:
        text = self.field(name).text().strip()
        if not text:
            if required:
                problems.append(FieldProblem(name, f"{tr(self.field(name).key)} 必填 is required"))
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            problems.append(
                FieldProblem(name, f"{text!r} 不是日期 is not a date: {tr('wo.date_format')}")
            )
            return None

    def add_item(self) -> bool:
        """Check the instrument fields; add the instrument to the list, or mark what is wrong."""
        self._clear_errors(_ITEM_FIELDS)
        item, problems = self._instrument_from_form()
        if item is None:
            self._show_problems(problems)
            return False
        self.pending.append(item)
        self.message.clear_message()
        for name in ("description", "model", "serial_number", "range_min", "range_max"):
            w = self.field(name).widget
            assert isinstance(w, QLineEdit)
            w.clear()
        self._show_pending()
        return True

    def remove_item(self) -> None:
        """Drop the selected instrument from the list to register."""
        rows = sorted({i.row() for i in self.pending_table.selectedIndexes()}, reverse=True)
        for r in rows:
            del self.pending[r]
        self._show_pending()

    def save(self) -> None:
        """Check the order fields and save the work order with its instruments (or nothing)."""
        self._clear_errors(_ORDER_FIELDS)
        problems: list[FieldProblem] = []
        received = self._parse_date("received_on", problems, required=True)
        due = self._parse_date("due_on", problems, required=False)
        if received is None:
            self._show_problems(
                [*problems, *([] if self.pending else [FieldProblem("items", tr("wo.pending"))])]
            )
            return
        data = ReceiptInput(
            customer_name=self.field("customer_name").text().strip(),
            received_on=received,
            due_on=due,
            items=tuple(self.pending),
            contact_name=self.field("contact_name").text().strip(),
            contact_phone=self.field("contact_phone").text().strip(),
            notes=self.field("notes").text().strip(),
        )
        today = self.ctx.today()
        problems.extend(check_receipt(data, today))
        if problems:
            self._show_problems(problems)
            return
        db, actor = self.ctx.db, self.ctx.actor
        self.save_button.setEnabled(False)
        self.ctx.runner.submit(
            lambda: save_receipt(db, actor, data, today), self._saved, self._refused
        )

    def _saved(self, row: WorkOrderRow) -> None:
        self.save_button.setEnabled(True)
        self.last_saved = row
        self.pending.clear()
        self._show_pending()
        self.message.info(f"{tr('wo.saved')}: {row.number} · {row.customer} · {len(row.items)}")
        self.print_button.setEnabled(True)
        self.refresh()
        self.registered.emit(row.number)

    def _receipt_document(self) -> QTextDocument:
        assert self.last_saved is not None
        doc = QTextDocument()
        doc.setDefaultFont(self.font())
        doc.setHtml(receipt_html(self.last_saved))
        return doc

    def export_receipt(self) -> Path:
        """Write the receipt of the last registered work order as a PDF in the data dir."""
        if self.last_saved is None:
            raise ValueError("no work order has been registered yet")
        folder = self.ctx.settings.data_dir / "receipts"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.last_saved.number}.pdf"
        writer = QPdfWriter(str(path))
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        writer.setTitle(f"收样单 Receipt {self.last_saved.number}")
        self._receipt_document().print_(writer)
        return path

    def preview_receipt(self) -> None:
        """Show the receipt in a print preview (print from there)."""
        if self.last_saved is None:
            return
        # The document is kept: a signal holds only a weak reference to a bound method,
        # so a temporary document would be collected and the preview left blank.
        self._receipt_doc = self._receipt_document()
        self.preview = QPrintPreviewDialog(self)
        self.preview.paintRequested.connect(self._receipt_doc.print_)
        self.preview.open()

    def _refused(self, exc: Exception) -> None:
        self.save_button.setEnabled(True)
        if isinstance(exc, WorkOrderError):
            self._show_problems(exc.problems)
        else:
            self.message.error(str(exc))
