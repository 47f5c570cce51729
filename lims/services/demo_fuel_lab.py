"""The demo laboratory's fuel laboratory: a coal-testing customer's oxygen-bomb calorimeter
and coulometric sulfur analyzer, the lab's analytical balance as a measurement standard,
and the certified reference materials the two verifications consume (benzoic acid for
calorimetry, coal at three sulfur levels).

Called by :func:`lims.services.demo.seed_demo`; dates are relative to ``today`` as there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from lims.models import Contact, Customer, ReferenceMaterial, ServiceKind, WorkOrder, WorkOrderItem

__all__ = ["FUEL_LAB_CRMS", "FUEL_LAB_ORDER", "FuelCrm", "seed_fuel_lab"]

#: The work order of the fuel-laboratory items.
FUEL_LAB_ORDER = "WO-DEMO-0008"


@dataclass(frozen=True)
class FuelCrm:
    """A certified reference material of the fuel laboratory, as the register holds it."""

    tag: str
    gbw_number: str
    name: str
    component: str
    certified: float
    expanded_uncertainty: float
    unit: str
    remaining_g: float


FUEL_LAB_CRMS = (
    FuelCrm(
        "RM-BA-01",
        "GBW(E)130039",
        "量热用苯甲酸 Benzoic acid (calorimetric)",
        "Qv",
        26454.0,
        16.0,
        "joule / gram",
        45.0,
    ),
    FuelCrm(
        "RM-BA-02",
        "GBW(E)130040",
        "量热用苯甲酸 Benzoic acid (calorimetric), check lot",
        "Qv",
        26461.0,
        16.0,
        "joule / gram",
        45.0,
    ),
    FuelCrm(
        "RM-COAL-S-LOW",
        "GBW(E)110101",
        "煤中全硫 Coal, total sulfur (low)",
        "S",
        0.52,
        0.02,
        "percent",
        48.0,
    ),
    FuelCrm(
        "RM-COAL-S-MID",
        "GBW(E)110102",
        "煤中全硫 Coal, total sulfur (middle)",
        "S",
        1.48,
        0.04,
        "percent",
        48.0,
    ),
    FuelCrm(
        "RM-COAL-S-HIGH",
        "GBW(E)110103",
        "煤中全硫 Coal, total sulfur (high)",
        "S",
        3.05,
        0.06,
        "percent",
        48.0,
    ),
)
"""The fuel laboratory's CRMs (demo values; U with k = 2)."""


def seed_fuel_lab(s: Session, today: date) -> None:
    """Add the fuel laboratory's customer, instruments, standard, CRMs and work order."""
    from lims.services.demo import _equipment, _standard  # the demo's own helpers

    coal = Customer(name="东方煤质检测中心 Eastern Coal Testing Centre", address="山西省太原市")
    s.add(coal)
    s.flush()
    s.add(Contact(customer_id=coal.id, name="吴刚 Wu Gang", phone="0351-0000003"))
    bomb = _equipment(
        s,
        "bomb_calorimeter",
        "氧弹热量计 Oxygen-bomb calorimeter",
        "Sim Fuel",
        "BC-5000",
        "BC5000-0672",
        owner=coal,
        rng=(1500, 15000, "joule / kelvin"),
        specs={"type": "isothermal"},
    )
    sulfur = _equipment(
        s,
        "sulfur_analyzer",
        "库仑测硫仪 Coulometric total-sulfur analyzer",
        "Sim Fuel",
        "ST-C700",
        "STC700-1006",
        owner=coal,
        rng=(0, 8, "percent"),
        specs={"type": "coulometric"},
    )
    balance = _equipment(
        s,
        "balance",
        "分析天平 Analytical balance",
        "Sim Lab",
        "BAL-220",
        "BAL220-0672",
        asset_tag="STD-BAL-02",
        accuracy="d=0.1 mg",
        location="燃料室 Fuel lab",
    )
    _standard(
        s,
        today,
        "STD-FUEL-001",
        "燃料分析称量标准",
        "Fuel-laboratory weighing standard",
        [(balance, "balance")],
        measurand="mass",
        range_text="0–220 g",
        uncertainty_text="U = 0.2 mg (k=2)",
        check=(1.0, 1.0001, 0.0003, "gram"),
        stated={"balance": ("mass=1 g;U=0.2 mg;k=2", "mass=0..220 g")},
    )
    for i, rm in enumerate(FUEL_LAB_CRMS, start=1):
        s.add(
            ReferenceMaterial(
                tag=rm.tag,
                gbw_number=rm.gbw_number,
                name=rm.name,
                producer="国家标准物质中心 (demo)",
                component=rm.component,
                matrix="solid",
                certified_value=rm.certified,
                expanded_uncertainty=rm.expanded_uncertainty,
                coverage_factor=2.0,
                unit=rm.unit,
                certificate_number=f"RMC-{rm.gbw_number}",
                lot=f"L{today.year}-F{i:02d}",
                received_on=today - timedelta(days=90),
                opened_on=today - timedelta(days=80),
                expires_on=today + timedelta(days=700),
                remaining=rm.remaining_g,
                minimum=2.0,
                remaining_unit="gram",
            )
        )
    wo = WorkOrder(
        number=FUEL_LAB_ORDER,
        customer_id=coal.id,
        received_on=today - timedelta(days=2),
        due_on=today + timedelta(days=12),
    )
    s.add(wo)
    s.flush()
    for eq, proc in ((bomb, "jjg672-bomb-calorimeter"), (sulfur, "jjg1006-sulfur-analyzer")):
        s.add(
            WorkOrderItem(
                work_order_id=wo.id,
                equipment_id=eq.id,
                service=ServiceKind.VERIFICATION,
                procedure_id=proc,
                condition_on_receipt="外观完好 Good condition",
                due_on=wo.due_on,
            )
        )
    s.flush()
