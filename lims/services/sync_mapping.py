"""Mapping a laptop run's references to the lab's records by natural keys (for
:mod:`lims.services.sync`): users by name, procedure versions by procedure, version and
source hash (registered in the lab when missing, with their regulation table), work-order
items by order number and instrument serial, standards and materials by tag, other
equipment by asset tag, visits by uid.
What cannot be mapped is collected in :attr:`Mapper.conflicts`, never guessed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.models import (
    MeasurementStandard,
    Procedure,
    ProcedureVersion,
    ReferenceMaterial,
    RegulationTable,
    SiteVisit,
    User,
    WorkOrder,
    WorkOrderItem,
)
from lims.models.equipment import Equipment

__all__ = ["Mapper", "columns"]


class Mapper:
    """Maps a laptop run's references to the lab's records by natural keys."""

    def __init__(self, lab: Session, src: Session) -> None:
        self.lab = lab
        self.src = src
        self.conflicts: list[str] = []

    def user(self, user_id: int | None, where: str) -> int | None:
        if user_id is None:
            return None
        u = self.src.get(User, user_id)
        found = (
            self.lab.scalars(select(User.id).where(User.username == u.username)).one_or_none()
            if u
            else None
        )
        if found is None:
            self.conflicts.append(f"{where}: user {u.username if u else user_id} not in the lab")
        return found

    def procedure_version(self, pv_id: int, where: str) -> int | None:
        pv = self.src.get(ProcedureVersion, pv_id)
        assert pv is not None
        table = self.src.get(RegulationTable, pv.regulation_table_id)
        assert table is not None
        lab_table = self.lab.scalars(
            select(RegulationTable).where(
                RegulationTable.procedure_id == pv.procedure_id,
                RegulationTable.version == table.version,
            )
        ).one_or_none()
        if lab_table is not None and lab_table.sha256 != table.sha256:
            self.conflicts.append(
                f"{where}: regulation table {table.procedure_id} {table.version} differs in the lab"
            )
            return None
        found = self.lab.scalars(
            select(ProcedureVersion.id).where(
                ProcedureVersion.procedure_id == pv.procedure_id,
                ProcedureVersion.version == pv.version,
                ProcedureVersion.source_sha256 == pv.source_sha256,
            )
        ).one_or_none()
        if found is not None:
            return found
        if self.lab.get(Procedure, pv.procedure_id) is None:  # the procedure as registered there
            proc = self.src.get(Procedure, pv.procedure_id)
            assert proc is not None
            self.lab.add(Procedure(**columns(proc, "created_at")))
            self.lab.flush()
        if lab_table is None:
            released_by = self.user(table.released_by_id, where)
            lab_table = RegulationTable(
                **columns(table, "id", "released_by_id"), released_by_id=released_by
            )
            self.lab.add(lab_table)
            self.lab.flush()
        new = ProcedureVersion(**columns(pv, "id", "regulation_table_id"))
        new.regulation_table_id = lab_table.id
        self.lab.add(new)
        self.lab.flush()
        return new.id

    def item(self, item_id: int | None, where: str) -> int | None:
        if item_id is None:
            return None
        item = self.src.get(WorkOrderItem, item_id)
        assert item is not None
        order = self.src.get(WorkOrder, item.work_order_id)
        eq = self.src.get(Equipment, item.equipment_id)
        assert order is not None
        assert eq is not None
        found = self.lab.scalars(
            select(WorkOrderItem.id)
            .join(WorkOrder, WorkOrder.id == WorkOrderItem.work_order_id)
            .join(Equipment, Equipment.id == WorkOrderItem.equipment_id)
            .where(
                WorkOrder.number == order.number,
                Equipment.serial_number == eq.serial_number,
                WorkOrderItem.procedure_id == item.procedure_id,
            )
        ).all()
        if len(found) != 1:
            self.conflicts.append(
                f"{where}: work order {order.number} item for serial {eq.serial_number} "
                f"{'not in the lab' if not found else 'is ambiguous in the lab'}"
            )
            return None
        return found[0]

    def resource(self, kind: str, tag: str, where: str) -> int | None:
        """A run's standard, reference material or other equipment (by asset tag)."""
        if kind == "equipment":
            found = self.lab.scalars(
                select(Equipment.id).where(Equipment.asset_tag == tag)
            ).one_or_none()
        else:
            model: Any = MeasurementStandard if kind == "standard" else ReferenceMaterial
            found = self.lab.scalars(select(model.id).where(model.tag == tag)).one_or_none()
        if found is None:
            self.conflicts.append(f"{where}: {kind.replace('_', ' ')} {tag} not in the lab")
        return int(found) if found is not None else None

    def visit(self, visit_id: int, where: str) -> int | None:
        v = self.src.get(SiteVisit, visit_id)
        assert v is not None
        found = self.lab.scalars(select(SiteVisit.id).where(SiteVisit.uid == v.uid)).one_or_none()
        if found is None:
            self.conflicts.append(f"{where}: site visit {v.uid} not in the lab")
        return found


def columns(obj: Any, *skip: str) -> dict[str, Any]:
    """The mapped column values of ``obj`` (without ``skip``)."""
    return {a.key: getattr(obj, a.key) for a in obj.__mapper__.column_attrs if a.key not in skip}
