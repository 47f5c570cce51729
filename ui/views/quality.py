"""Quality management: impact assessments after an out-of-tolerance finding (every affected
run and certificate, a disposition and the customer's notification per certificate,
closing with a conclusion), overrides of failed rules with the password entered again,
and the open incidents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lims.quality.incidents import close_incident, list_incidents
from lims.quality.oot import (
    CHANNELS,
    DISPOSITIONS,
    OotImpact,
    decide_certificate,
    record_notification,
)
from lims.quality.permissions import Permission, can
from lims.quality.trace import close_impact
from lims.services.impact import RefusedRun, list_impacts, refused_runs, undecided
from lims.services.reauth import signed_override
from ui.access import gate_button
from ui.context import AppContext
from ui.dialogs import ReasonDialog
from ui.forms import Field, FormDialog, parse_day
from ui.i18n import STRINGS, tr
from ui.widgets import AMBER, GREEN, MessageLine, fill_table


@dataclass(frozen=True)
class IncidentRow:
    """An open incident."""

    id: int
    occurred_at: str
    category: str
    title: str
    description: str


@dataclass(frozen=True)
class QualityData:
    """What the view lists."""

    impacts: list[OotImpact]
    refused: list[RefusedRun]
    incidents: list[IncidentRow]


def load_quality(ctx: AppContext) -> QualityData:
    """Impacts and refused runs (findings), open incidents (closing them) — as permitted."""
    actor = ctx.actor
    with ctx.db.read() as s:
        findings = can(actor, Permission.RECORD_FINDING)
        incidents = (
            [
                IncidentRow(
                    i.id, f"{i.occurred_at:%Y-%m-%d %H:%M}", i.category, i.title, i.description
                )
                for i in list_incidents(s, actor, open_only=True)
            ]
            if can(actor, Permission.CLOSE_INCIDENT)
            else []
        )
        return QualityData(
            list_impacts(s, actor) if findings else [],
            refused_runs(s, actor) if findings else [],
            incidents,
        )


def disposition_text(d: str | None) -> str:
    """A decision in words ("—" when none is recorded yet)."""
    return tr(f"impact.disposition.{d}") if d is not None else "—"


def _notified_text(note: str) -> str:
    """``2026-03-21 email (ref)`` with the channel in words."""
    day, _, rest = note.partition(" ")
    channel, _, ref = rest.partition(" ")
    words = tr(f"impact.channel.{channel}") if f"impact.channel.{channel}" in STRINGS else channel
    return " ".join(x for x in (day, words, ref) if x)


def _table(name: str) -> QTableWidget:
    t = QTableWidget()
    t.setObjectName(name)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    return t


def _row_of(table: QTableWidget) -> int | None:
    model = table.selectionModel()
    rows = model.selectedRows() if model is not None else []
    return rows[0].row() if rows else None


class QualityView(QWidget):
    """Impact assessments | rule overrides | open incidents."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("quality_view")
        self.data = QualityData([], [], [])
        self.dialog: FormDialog | ReasonDialog | None = None
        #: An impact assessment to select once the list has loaded (one just opened).
        self.pending_impact: int | None = None
        self.inner = QTabWidget()
        # impacts
        self.impacts = _table("impacts")
        self.impacts.itemSelectionChanged.connect(self._show_affected)
        self.impact_info = QLabel()
        self.impact_info.setWordWrap(True)
        self.affected_box = QGroupBox()
        self.affected = _table("affected")
        self.runs_label = QLabel()
        self.runs_label.setWordWrap(True)
        av = QVBoxLayout(self.affected_box)
        av.addWidget(self.runs_label)
        av.addWidget(self.affected, 1)
        self.dispose_button = QPushButton()
        self.dispose_button.setObjectName("dispose")
        self.dispose_button.clicked.connect(self.ask_disposition)
        self.close_impact_button = QPushButton()
        self.close_impact_button.setObjectName("close_impact")
        self.close_impact_button.clicked.connect(self.ask_close_impact)
        buttons = QHBoxLayout()
        buttons.addWidget(self.dispose_button)
        buttons.addWidget(self.close_impact_button)
        buttons.addStretch(1)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addWidget(self.impact_info)
        rv.addWidget(self.affected_box, 1)
        rv.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("quality_split")
        split.addWidget(self.impacts)
        split.addWidget(right)
        split.setSizes([520, 760])
        self.inner.addTab(split, "")
        # overrides
        self.refused = _table("refused_runs")
        self.override_button = QPushButton()
        self.override_button.setObjectName("override")
        self.override_button.clicked.connect(self.ask_override)
        page = QWidget()
        pv = QVBoxLayout(page)
        self.override_intro = QLabel()
        self.override_intro.setWordWrap(True)
        pv.addWidget(self.override_intro)
        pv.addWidget(self.refused, 1)
        row = QHBoxLayout()
        row.addWidget(self.override_button)
        row.addStretch(1)
        pv.addLayout(row)
        self.inner.addTab(page, "")
        # incidents
        self.incidents = _table("incidents")
        self.close_incident_button = QPushButton()
        self.close_incident_button.clicked.connect(self.ask_close_incident)
        page3 = QWidget()
        iv = QVBoxLayout(page3)
        iv.addWidget(self.incidents, 1)
        row3 = QHBoxLayout()
        row3.addWidget(self.close_incident_button)
        row3.addStretch(1)
        iv.addLayout(row3)
        self.inner.addTab(page3, "")
        self.message = MessageLine()
        layout = QVBoxLayout(self)
        layout.addWidget(self.inner, 1)
        layout.addWidget(self.message)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language."""
        self.inner.setTabText(0, tr("impact.title"))
        self.inner.setTabText(1, tr("override.title"))
        self.inner.setTabText(2, tr("home.open_incidents"))
        self.affected_box.setTitle(tr("impact.affected"))
        self.dispose_button.setText(tr("impact.dispose"))
        self.close_impact_button.setText(tr("impact.close"))
        self.override_button.setText(tr("override.button"))
        self.override_intro.setText(tr("override.intro"))
        self.close_incident_button.setText(tr("incident.close"))
        self._show()

    def refresh(self) -> None:
        """Reload on a worker thread."""
        user = self.ctx.user
        for b in (self.dispose_button, self.close_impact_button, self.override_button):
            gate_button(b, user, Permission.RECORD_FINDING)
        gate_button(self.close_incident_button, user, Permission.CLOSE_INCIDENT)
        ctx = self.ctx
        self.ctx.runner.submit(
            lambda: load_quality(ctx), self._loaded, lambda e: self.message.error(str(e))
        )

    def _loaded(self, data: QualityData) -> None:
        chosen = self.selected_impact()
        keep = chosen.id if chosen is not None else None
        if self.pending_impact is not None:
            keep, self.pending_impact = self.pending_impact, None
            self.inner.setCurrentIndex(0)
        self.data = data
        self._show()
        if keep is not None:
            self.select_impact(keep)

    def _show(self) -> None:
        fill_table(
            self.impacts,
            [
                tr(k)
                for k in (
                    "impact.col.resource",
                    "impact.col.found",
                    "std.col.status",
                    "impact.col.certificates",
                    "impact.col.undecided",
                )
            ],
            [
                [
                    i.tag,
                    i.found_on.isoformat(),
                    tr(f"impact.status.{i.status}"),
                    len(i.certificates),
                    undecided(i),
                ]
                for i in self.data.impacts
            ],
        )
        for r, i in enumerate(self.data.impacts):
            cell = self.impacts.item(r, 4)
            if cell is not None:
                cell.setBackground(AMBER if undecided(i) else GREEN)
        fill_table(
            self.refused,
            [
                tr(k)
                for k in (
                    "override.col.run",
                    "wo.procedure",
                    "cert.col.actor",
                    "bench.bench",
                    "override.col.failures",
                )
            ],
            [
                [
                    r.run_id,
                    r.procedure_id,
                    r.operator,
                    r.bench_name,
                    "; ".join(
                        f"{k}{' ✔' if k in r.overridden else ''}: {v}"
                        for k, v in r.failures.items()
                    ),
                ]
                for r in self.data.refused
            ],
        )
        fill_table(
            self.incidents,
            [
                tr(k)
                for k in (
                    "cert.col.when",
                    "incident.category",
                    "incident.title",
                    "incident.description",
                )
            ],
            [
                [i.occurred_at, tr(f"incident.cat.{i.category}"), i.title, i.description]
                for i in self.data.incidents
            ],
        )
        self._show_affected()

    # -- impacts -----------------------------------------------------------------------
    def selected_impact(self) -> OotImpact | None:
        """The impact assessment selected."""
        row = _row_of(self.impacts)
        return self.data.impacts[row] if row is not None and row < len(self.data.impacts) else None

    def select_impact(self, impact_id: int) -> None:
        """Select the impact assessment ``impact_id``."""
        for r, i in enumerate(self.data.impacts):
            if i.id == impact_id:
                self.impacts.selectRow(r)
                return

    def _show_affected(self) -> None:
        i = self.selected_impact()
        if i is None:
            self.impact_info.setText(tr("impact.select"))
            self.runs_label.setText("")
            fill_table(self.affected, [], [])
            return
        since = i.since.isoformat() if i.since else tr("impact.whole_history")
        conclusion = f"<br>{tr('impact.conclusion')}: {i.conclusion}" if i.conclusion else ""
        self.impact_info.setText(
            f"<b>{i.tag}</b> · {tr(f'impact.status.{i.status}')} · "
            f"{tr('impact.col.found')} {i.found_on.isoformat()} · {tr('impact.since')} {since}"
            f"<br>{i.finding}{conclusion}"
        )
        runs = ", ".join(f"#{r}" for r in i.runs) or "—"
        self.runs_label.setText(f"{tr('impact.runs')} ({len(i.runs)}): {runs}")
        fill_table(
            self.affected,
            [
                tr(k)
                for k in (
                    "cert.col.number",
                    "cert.col.status",
                    "cert.col.customer",
                    "impact.col.via",
                    "impact.col.disposition",
                    "impact.col.notified",
                )
            ],
            [
                [
                    c.number,
                    c.customer,
                    " → ".join(c.via),
                    disposition_text(c.disposition),
                    c.reason,
                    "; ".join(_notified_text(n) for n in c.notified),
                ]
                for c in i.certificates
            ],
        )
        for r, c in enumerate(i.certificates):
            cell = self.affected.item(r, 3)
            if cell is not None:
                cell.setBackground(GREEN if c.disposition is not None else AMBER)

    def ask_disposition(self) -> None:
        """Decide on the selected affected certificate; record its customer's notification."""
        i = self.selected_impact()
        row = _row_of(self.affected)
        if i is None or row is None or row >= len(i.certificates):
            self.message.error(tr("impact.select_certificate"))
            return
        cert = i.certificates[row]
        ctx, impact_id = self.ctx, i.id
        fields = [
            Field(
                "disposition",
                "impact.col.disposition",
                "combo",
                [(disposition_text(d), d) for d in DISPOSITIONS],
            ),
            Field("reason", "common.reason"),
            Field("notified_on", "impact.notified_on", "date", required=False),
            Field(
                "channel",
                "impact.channel",
                "combo",
                [(tr(f"impact.channel.{c}"), c) for c in CHANNELS],
            ),
            Field("reference", "impact.notification", required=False),
        ]

        def work(v: dict[str, Any]) -> str:
            notified_on = parse_day(v, "notified_on")
            with ctx.db.write(actor=ctx.actor, reason=v["reason"]) as s:
                decide_certificate(
                    s, ctx.actor, impact_id, cert.number, str(v["disposition"]), v["reason"]
                )
                if notified_on is not None:
                    record_notification(
                        s,
                        ctx.actor,
                        impact_id,
                        cert.number,
                        notified_on=notified_on,
                        channel=str(v["channel"]),
                        reference=v["reference"],
                    )
            return cert.number

        self.dialog = FormDialog(
            ctx,
            f"{tr('impact.dispose')} {cert.number}",
            fields,
            work,
            lambda _r: self._changed(cert.number),
            self,
            intro=f"{cert.number} · {cert.customer}",
        )
        self.dialog.open()

    def ask_close_impact(self) -> None:
        """Close the selected impact assessment with its conclusion."""
        i = self.selected_impact()
        if i is None:
            self.message.error(tr("impact.select"))
            return
        ctx, impact_id = self.ctx, i.id

        def run(conclusion: str, dlg: ReasonDialog) -> None:
            def work() -> int:
                with ctx.db.write(actor=ctx.actor, reason=conclusion) as s:
                    close_impact(s, ctx.actor, impact_id, conclusion)
                return impact_id

            def done(_id: int) -> None:
                dlg.succeeded()
                self._changed(i.tag)

            ctx.runner.submit(work, done, lambda exc: dlg.refused(str(exc)))

        title = tr("impact.close")
        self.dialog = ReasonDialog(title, f"{title}: {i.tag}", run, self)
        self.dialog.open()

    # -- overrides ---------------------------------------------------------------------
    def ask_override(self) -> None:
        """Override one failed rule of the selected refused run (reason and password)."""
        row = _row_of(self.refused)
        if row is None or row >= len(self.data.refused):
            self.message.error(tr("override.select"))
            return
        run = self.data.refused[row]
        ctx = self.ctx
        open_keys = [(f"{k}: {v}", k) for k, v in run.failures.items() if k not in run.overridden]
        fields = [
            Field("key", "override.rule", "combo", open_keys),
            Field("reason", "common.reason"),
            Field("password", "sign.password", "password"),
        ]
        username = ctx.actor.username

        def work(v: dict[str, Any]) -> int:
            return signed_override(
                ctx.db, username, v["password"], ctx.policy, run.run_id, v["key"], v["reason"]
            )

        self.dialog = FormDialog(
            ctx,
            tr("override.title"),
            fields,
            work,
            lambda _id: self._changed(f"#{run.run_id}"),
            self,
            intro=tr("override.meaning"),
            ok_text=tr("sign.button"),
        )
        self.dialog.open()

    # -- incidents ---------------------------------------------------------------------
    def ask_close_incident(self) -> None:
        """Close the selected incident with its corrective action."""
        row = _row_of(self.incidents)
        if row is None or row >= len(self.data.incidents):
            self.message.error(tr("incident.select"))
            return
        incident = self.data.incidents[row]
        ctx = self.ctx

        def run(action: str, dlg: ReasonDialog) -> None:
            def work() -> int:
                with ctx.db.write(actor=ctx.actor, reason=action) as s:
                    close_incident(s, ctx.actor, incident.id, action)
                return incident.id

            def done(_id: int) -> None:
                dlg.succeeded()
                self._changed(incident.title)

            ctx.runner.submit(work, done, lambda exc: dlg.refused(str(exc)))

        title = tr("incident.close")
        self.dialog = ReasonDialog(title, f"{title}: {incident.title}", run, self)
        self.dialog.open()

    def _changed(self, what: str) -> None:
        self.message.info(f"{tr('users.saved')}: {what}")
        self.refresh()
