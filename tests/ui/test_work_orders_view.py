"""The work-orders view: receiving instruments with inline validation, and the status board."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from PySide6.QtPrintSupport import QPrintPreviewWidget
from pytestqt.qtbot import QtBot

from lims.db import Database
from lims.models.enums import ServiceKind
from lims.quality.accounts import login
from lims.security import PasswordPolicy
from lims.services.demo import DEMO_USERS
from lims.services.work_orders import status_board
from tests.ui.conftest import TODAY, log_in, settle
from ui.app import LimsApp
from ui.main_window import MainWindow
from ui.views.work_orders import WorkOrdersView, receipt_html

ZHANG = next(u for u in DEMO_USERS if u.username == "zhang")


def _set(view: WorkOrdersView, **values: str) -> None:
    for name, text in values.items():
        w = view.field(name).widget
        if hasattr(w, "setCurrentText"):
            w.setCurrentText(text)
        else:
            w.setText(text)


def _numbers(db: Database) -> list[str]:
    user = login(db, ZHANG.username, ZHANG.password, PasswordPolicy())
    with db.read() as s:
        return [row.number for row in status_board(s, user)]


INSTRUMENT = {
    "kind": "gas_analyzer",
    "description": "红外二氧化碳分析仪 NDIR CO2 analyzer",
    "manufacturer": "Sim Instruments",
    "model": "CA-3000",
    "serial_number": "CA3000-0099",
    "range_min": "0 µmol/mol",
    "range_max": "2000 µmol/mol",
    "procedure_id": "jjg635",
}


def test_bad_input_refused_inline_then_good_input_saved(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    window = log_in(qtbot, gui, ZHANG.username, ZHANG.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)  # the size of the screenshots, laid out before they are taken
    window.tabs.setCurrentWidget(window.work_orders)  # a view loads when first shown
    settle(qtbot, gui.runner)
    view = window.work_orders
    before = _numbers(demo_db)
    assert set(before) == {"WO-DEMO-0001", "WO-DEMO-0002", "WO-DEMO-0003", "WO-DEMO-0008"}
    assert view.tree.topLevelItemCount() == 4

    # A unit that does not exist, and a maximum of another dimension.
    _set(view, **{**INSTRUMENT, "range_max": "2000 bananas"})
    assert not view.add_item()
    assert "bananas" in view.field("range_max").error.text()
    assert view.field("range_max").error.isVisible() or not window.isVisible()
    _set(view, range_max="5 L/min")
    assert not view.add_item()
    assert "micromole / mole" in view.field("range_max").error.text() or "µmol/mol" in (
        view.field("range_max").error.text()
    )
    # A missing serial number.
    _set(view, range_max="2000 µmol/mol", serial_number="")
    assert not view.add_item()
    assert "serial number" in view.field("serial_number").error.text()
    assert view.pending == []

    _set(view, serial_number=INSTRUMENT["serial_number"])
    assert view.add_item()
    assert view.field("serial_number").error.text() == ""
    assert view.pending_table.rowCount() == 1

    # Order fields: no customer, a date that is not one, a due date before receipt.
    _set(view, customer_name="", received_on="2026-13-01", due_on="")
    view.save()
    assert "not a date" in view.field("received_on").error.text()
    _set(view, received_on=TODAY.isoformat(), due_on=(TODAY - timedelta(days=1)).isoformat())
    view.save()
    assert "customer" in view.field("customer_name").error.text()
    assert "due date is before" in view.field("due_on").error.text()
    assert view.message.is_error
    settle(qtbot, gui.runner)
    assert _numbers(demo_db) == before  # nothing was saved
    qtbot.wait(50)  # the error lines laid out
    window.grab().save(str(screenshot_dir / "work_orders_refused.png"))

    _set(
        view,
        customer_name="碳排放监测公司 Carbon Emission Monitoring Co.",
        due_on=(TODAY + timedelta(days=14)).isoformat(),
    )
    view.save()
    settle(qtbot, gui.runner)
    assert not view.message.is_error, view.message.text()
    expected = f"WO{TODAY.year}-0001"
    assert view.last_saved is not None
    assert view.last_saved.number == expected
    assert expected in view.message.text()
    after = _numbers(demo_db)
    assert set(after) == {*before, expected}
    assert view.tree.topLevelItemCount() == 5
    tops = [view.tree.topLevelItem(i) for i in range(5)]
    new = next(t for t in tops if t.text(0) == expected)
    assert new.childCount() == 1
    assert "CA3000-0099" in new.child(0).text(2)
    window.grab().save(str(screenshot_dir / "work_orders.png"))

    # The receipt names the work order, the customer and the instrument.
    assert view.print_button.isEnabled()
    html_text = receipt_html(view.last_saved)
    for text in (expected, "Carbon Emission Monitoring Co.", "CA3000-0099", "jjg635"):
        assert text in html_text
    view.print_button.click()  # the print preview shows the receipt's page
    preview = view.preview
    assert preview is not None
    qtbot.waitUntil(preview.isVisible)
    widget = preview.findChild(QPrintPreviewWidget)
    assert widget is not None
    widget.updatePreview()
    assert widget.pageCount() >= 1
    preview.resize(800, 900)
    qtbot.wait(50)
    preview.grab().save(str(screenshot_dir / "work_order_receipt_preview.png"))
    preview.close()
    pdf = view.export_receipt()
    assert pdf.name == f"{expected}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    (screenshot_dir / "work_order_receipt.pdf").write_bytes(pdf.read_bytes())


def test_board_loads_pages_on_demand(qtbot: QtBot, gui: LimsApp, demo_db: Database) -> None:
    from sqlalchemy import func, select

    from lims.models import WorkOrder
    from lims.services.work_order_board import DEFAULT_PAGE_SIZE
    from lims.services.work_orders import InstrumentInput, ReceiptInput, receive_instruments
    from lims.units import Q_

    user = login(demo_db, ZHANG.username, ZHANG.password, PasswordPolicy())
    with demo_db.read() as s:
        demo_orders = s.scalar(select(func.count()).select_from(WorkOrder))  # all still open
    extra = DEFAULT_PAGE_SIZE + 7
    with demo_db.write(actor=user, reason="instruments received") as s:
        for i in range(extra):
            item = InstrumentInput(
                kind="gas_analyzer",
                description="CO2 analyzer",
                manufacturer="Sim",
                model="CA",
                serial_number=f"PAGE-{i}",
                service=ServiceKind.VERIFICATION,
                procedure_id="jjg635",
                range_min=Q_(0, "umol/mol"),
                range_max=Q_(2000, "umol/mol"),
            )
            receive_instruments(s, user, ReceiptInput("客户 Paging", TODAY, None, (item,)), TODAY)
    total = extra + demo_orders  # and the demo's own
    window = log_in(qtbot, gui, ZHANG.username, ZHANG.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.tabs.setCurrentWidget(window.work_orders)
    settle(qtbot, gui.runner)
    view = window.work_orders
    assert view.tree.topLevelItemCount() == DEFAULT_PAGE_SIZE  # only the first page
    assert view.board_box.more_button.isEnabled()
    assert str(total) in view.board_box.shown_label.text()
    view.board_box.more_button.click()
    settle(qtbot, gui.runner)
    assert view.tree.topLevelItemCount() == total
    assert not view.board_box.more_button.isEnabled()
    assert sorted(row.number for row in view.board) == sorted(_numbers(demo_db))
