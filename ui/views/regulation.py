"""Regulation tables: the versions with their release state and unverified count, a
version's values with the unverified ones marked, the comparison of two versions and
the release by a quality manager with a reason."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lims.quality.permissions import Permission
from lims.services.reauth import signed_release
from lims.services.regulation_tables import (
    TableEntry,
    TableVersion,
    ValueChange,
    compare_tables,
    list_tables,
    table_entries,
)
from ui.access import gate, refusal
from ui.context import AppContext
from ui.forms import Field, FormDialog
from ui.i18n import tr
from ui.widgets import AMBER, GREEN, RED, MessageLine, fill_table


def _cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None  # fill_table sets every cell
    return item


class RegulationView(QWidget):
    """Tables list | values of the selected version, comparison, release."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("regulation_view")
        self.versions: list[TableVersion] = []
        self.current: TableVersion | None = None
        self.entries: list[TableEntry] = []
        self.changes: list[ValueChange] | None = None
        self.reason_dialog: FormDialog | None = None

        self.table = QTableWidget()
        self.table.setObjectName("regulation_tables")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selected)
        self.refresh_button = QPushButton()
        self.refresh_button.clicked.connect(self.refresh)
        self.release_button = QPushButton()
        self.release_button.setObjectName("release")
        self.release_button.clicked.connect(self.ask_release)
        self.message = MessageLine()
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.release_button)
        buttons.addStretch(1)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.table, 1)
        lv.addLayout(buttons)
        lv.addWidget(self.message)

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.values_box = QGroupBox()
        self.values = QTableWidget()
        self.values.setObjectName("regulation_values")
        self.values.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        QVBoxLayout(self.values_box).addWidget(self.values)
        self.compare_box = QGroupBox()
        self.old_version = QComboBox()
        self.new_version = QComboBox()
        self.compare_button = QPushButton()
        self.compare_button.clicked.connect(self.compare)
        self.old_label, self.new_label = QLabel(), QLabel()
        row = QHBoxLayout()
        for w in (self.old_label, self.old_version, self.new_label, self.new_version):
            row.addWidget(w)
        row.addWidget(self.compare_button)
        row.addStretch(1)
        self.diff = QTableWidget()
        self.diff.setObjectName("regulation_diff")
        self.diff.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.diff_message = QLabel()
        cv = QVBoxLayout(self.compare_box)
        cv.addLayout(row)
        cv.addWidget(self.diff, 1)
        cv.addWidget(self.diff_message)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addWidget(self.info)
        rv.addWidget(self.values_box, 3)
        rv.addWidget(self.compare_box, 2)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("regulation_split")
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([560, 720])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.retranslate()

    # -- texts -------------------------------------------------------------------------
    def retranslate(self) -> None:
        """Set every text in the current language and redraw the tables."""
        self.refresh_button.setText(tr("common.refresh"))
        self.release_button.setText(tr("reg.release"))
        self.values_box.setTitle(tr("reg.values"))
        self.compare_box.setTitle(tr("reg.compare"))
        self.old_label.setText(tr("reg.old"))
        self.new_label.setText(tr("reg.new"))
        self.compare_button.setText(tr("reg.compare_button"))
        self._show_versions()
        self._show_entries()
        self._show_changes()

    def _status(self, status: str) -> str:
        try:
            return tr(f"reg.status.{status}")
        except KeyError:
            return status

    # -- loading -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the table versions on a worker thread."""
        db, actor = self.ctx.db, self.ctx.actor
        gate(self.release_button, refusal(actor, (Permission.RELEASE_REGULATION_TABLE,)))
        self.ctx.runner.submit(lambda: list_tables(db, actor), self._loaded, self._failed)

    def _loaded(self, versions: list[TableVersion]) -> None:
        selected = self.selected()
        self.versions = versions
        self._show_versions()
        if selected is not None:
            self.select(selected.procedure_id, selected.version)

    def _failed(self, exc: Exception) -> None:
        self.message.error(str(exc))

    def _show_versions(self) -> None:
        headers = [
            tr(k)
            for k in (
                "wo.procedure",
                "reg.col.version",
                "std.col.status",
                "reg.col.unverified",
                "reg.col.where",
                "reg.col.released",
                "std.col.name",
            )
        ]
        rows = [
            [
                v.procedure_id,
                v.version,
                self._status(v.status),
                len(v.unverified),
                " / ".join(
                    tr(k) for k, on in (("reg.stored", v.stored), ("reg.shipped", v.shipped)) if on
                ),
                (
                    f"{v.released_by or ''} {v.released_at:%Y-%m-%d}".strip()
                    if v.released and v.released_at
                    else (v.released_by or "")
                ),
                v.procedure_title,
            ]
            for v in self.versions
        ]
        self.table.blockSignals(True)
        fill_table(self.table, headers, rows)
        self.table.blockSignals(False)
        for i, v in enumerate(self.versions):
            _cell(self.table, i, 2).setBackground(GREEN if v.released else AMBER)
            _cell(self.table, i, 3).setBackground(RED if v.unverified else GREEN)

    # -- selection and values ----------------------------------------------------------
    def selected(self) -> TableVersion | None:
        """The selected table version, if any."""
        model = self.table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        if not rows or rows[0].row() >= len(self.versions):
            return None
        return self.versions[rows[0].row()]

    def select(self, procedure_id: str, version: str) -> None:
        """Select a table version (its values then load)."""
        for i, v in enumerate(self.versions):
            if (v.procedure_id, v.version) == (procedure_id, version):
                if self.selected() is v:
                    # already selected (e.g. kept while the table refilled with its signals
                    # blocked): Qt emits no change, so load the values here
                    self._selected()
                else:
                    self.table.selectRow(i)
                return

    def _selected(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        db, actor = self.ctx.db, self.ctx.actor
        pid, version = chosen.procedure_id, chosen.version
        self.ctx.runner.submit(
            lambda: table_entries(db, actor, pid, version), self._entries_loaded, self._failed
        )
        others = [v.version for v in self.versions if v.procedure_id == pid]
        for combo, pick in ((self.old_version, others[0]), (self.new_version, version)):
            combo.clear()
            combo.addItems(others)
            combo.setCurrentText(pick)
        self.changes = None
        self._show_changes()

    def _entries_loaded(self, result: tuple[TableVersion, list[TableEntry]]) -> None:
        self.current, self.entries = result
        self._show_entries()

    def _show_entries(self) -> None:
        v = self.current
        if v is None:
            self.info.setText(tr("reg.select"))
            fill_table(self.values, [], [])
            return
        released = ""
        if v.released:
            when = f"{v.released_at:%Y-%m-%d %H:%M} UTC" if v.released_at else ""
            released = (
                f"<br>{tr('reg.col.released')}: {v.released_by or ''} {when} — "
                f"{v.release_reason or ''}"
            )
        unverified = (
            f"<br><span style='color:#b00020'>{tr('reg.unverified_left')}: "
            f"{', '.join(v.unverified)}</span>"
            if v.unverified
            else ""
        )
        self.info.setText(
            f"<b>{v.procedure_id} {v.version}</b> · {self._status(v.status)}<br>"
            f"{v.procedure_title}<br>{v.source}{released}{unverified}"
        )
        fill_table(
            self.values,
            [tr("reg.col.key"), tr("reg.col.value"), tr("reg.col.mark"), tr("reg.col.note")],
            [
                [e.key, e.value, tr("reg.unverified") if e.unverified else "", e.note]
                for e in self.entries
            ],
        )
        for i, e in enumerate(self.entries):
            if e.unverified:
                for c in range(3):
                    _cell(self.values, i, c).setBackground(AMBER)

    # -- comparison --------------------------------------------------------------------
    def compare(self) -> None:
        """Compare the two chosen versions of the selected procedure (worker thread)."""
        chosen = self.selected()
        old, new = self.old_version.currentText(), self.new_version.currentText()
        if chosen is None or not old or not new:
            self.message.error(tr("reg.select"))
            return
        db, actor, pid = self.ctx.db, self.ctx.actor, chosen.procedure_id
        self.ctx.runner.submit(
            lambda: compare_tables(db, actor, pid, old, new), self._compared, self._failed
        )

    def _compared(self, changes: list[ValueChange]) -> None:
        self.changes = changes
        self._show_changes()

    def _show_changes(self) -> None:
        changes = self.changes or []
        fill_table(
            self.diff,
            [tr("reg.col.key"), tr("reg.old"), tr("reg.new"), tr("reg.col.change")],
            [
                [
                    c.key,
                    self._entry_text(c.old),
                    self._entry_text(c.new),
                    tr(f"reg.change.{c.kind}"),
                ]
                for c in changes
            ],
        )
        for i, c in enumerate(changes):
            colour = AMBER if c.kind == "verification" else RED if c.kind == "removed" else GREEN
            _cell(self.diff, i, 3).setBackground(colour)
        if self.changes is None:
            self.diff_message.setText("")
        else:
            self.diff_message.setText(
                tr("reg.no_difference") if not changes else f"{len(changes)} {tr('reg.differ')}"
            )

    @staticmethod
    def _entry_text(e: TableEntry | None) -> str:
        if e is None:
            return "—"
        return f"{e.value} ({tr('reg.unverified')})" if e.unverified else e.value

    # -- release -----------------------------------------------------------------------
    def ask_release(self) -> None:
        """Release the selected version with a reason and the password entered again."""
        chosen = self.selected()
        if chosen is None:
            self.message.error(tr("reg.select"))
            return
        ctx = self.ctx
        username = ctx.actor.username
        pid, version = chosen.procedure_id, chosen.version
        fields = [
            Field("reason", "common.reason"),
            Field("password", "sign.password", "password"),
        ]

        def work(v: dict[str, Any]) -> TableVersion:
            return signed_release(
                ctx.db, username, v["password"], ctx.policy, pid, version, v["reason"]
            )

        def done(v: TableVersion) -> None:
            self.message.info(f"{tr('reg.released')}: {v.procedure_id} {v.version}")
            self.current = None
            self.refresh()

        title = tr("reg.release.title")
        self.reason_dialog = FormDialog(
            ctx,
            f"{title}: {pid} {version}",
            fields,
            work,
            done,
            self,
            intro=f"{tr('reg.release.meaning')}\n{pid} {version} · {chosen.procedure_title}",
            ok_text=tr("sign.button"),
        )
        self.reason_dialog.open()
