"""The demo laboratory's on-site work: a power station's belt scale and CO2 CEMS, the
portable standards and gases that travel to it, the site and a visit with the standards
checked out for it.

Called by :func:`lims.services.demo.seed_demo` after the lab's own records exist. The
instruments under test match the simulated example benches ``belt-scale.toml`` and
``co2-cems.toml`` (model and serial as the simulators report them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db import Database
from lims.models import (
    Customer,
    ExternalCertificate,
    ReferenceMaterial,
    ServiceKind,
    SiteVisit,
    User,
    WorkOrder,
    WorkOrderItem,
)
from lims.services import onsite
from lims.services.users import grant_authorization

__all__ = [
    "ONSITE_ORDER",
    "ONSITE_PROCEDURE_IDS",
    "ONSITE_STANDARDS",
    "mark_demo_run_on_site",
    "seed_onsite_demo",
]

#: The demo procedures run on site.
ONSITE_PROCEDURE_IDS = ("jjg195-belt-scale", "hj75-co2-cems")
#: The demo work order whose items are verified on site.
ONSITE_ORDER = "WO-DEMO-0005"
#: The portable standards that travel with the demo visit.
ONSITE_STANDARDS = ("STD-BELT-001", "STD-CEMS-001")
#: The CO2 cylinders of the portable dilutor (tag, GBW, value %, U %).
ONSITE_GASES = (
    ("RM-N2-0101", "GBW(E)061051", 0.0, 0.0),
    ("RM-CO2-06P", "GBW(E)062301", 6.00, 0.06),
    ("RM-CO2-12P", "GBW(E)062302", 12.00, 0.12),
    ("RM-CO2-16P", "GBW(E)062303", 16.00, 0.16),
)


def seed_onsite_demo(
    s: Session, today: date, customer: Customer, users: Mapping[str, User]
) -> None:
    """The on-site part of the demo lab (see the module docstring)."""
    from lims.services.demo import _equipment, _standard

    for tech in ("zhang", "li"):
        for proc in ONSITE_PROCEDURE_IDS:
            grant_authorization(
                s,
                users[tech],
                proc,
                today - timedelta(days=200),
                today + timedelta(days=530),
                competence_certificate=f"JL-{tech.upper()}-{proc}",
                granted_by=users["chen"],
            )
    site_text = "华北第二电厂 North China Power Station 2"
    belt = _equipment(
        s,
        "belt_scale",
        "电子皮带秤 Belt scale (coal conveyor C3)",
        "Sim Weighing",
        "BI-600",
        "BI600-0195",
        owner=customer,
        accuracy="0.5 级 class 0.5",
        location=site_text,
        specs={
            "accuracy_class": "0.5",
            "max_rate": "1500 t/h",
            "verification_kind": "subsequent",
            "totalizer_resolution": "0.1 kg",
        },
    )
    cems = _equipment(
        s,
        "co2_cems",
        "二氧化碳排放连续监测系统 CO2 CEMS (stack 1)",
        "CarbonSim",
        "CEMS-CO2-2000",
        "CEMS-0075",
        owner=customer,
        rng=(0, 20, "percent_vol"),
        location=site_text,
        specs={"component": "CO2", "resolution": "0.01 %vol"},
    )
    scale = _equipment(
        s,
        "balance",
        "便携式控制衡器 Portable control scale",
        "Sim Weighing",
        "CS-60T",
        "CS60T-0008",
        asset_tag="STD-SCALE-01",
        accuracy="U_rel = 0.05 % (k=2)",
    )
    chain = _equipment(
        s,
        "test_chain",
        "皮带秤检定链码 Test chain",
        "Sim Weighing",
        "TC-60",
        "TC60-0002",
        asset_tag="STD-CHAIN-01",
        accuracy="60.0 kg/m, U = 0.03 kg/m (k=2)",
    )
    dilutor = _equipment(
        s,
        "gas_dilutor",
        "便携式配气仪 Portable gas dilutor",
        "Sim Gas",
        "GD-P5",
        "GDP5-0011",
        asset_tag="STD-GD-02",
    )
    reference = _equipment(
        s,
        "gas_analyzer",
        "便携式红外CO2分析仪（参比方法） Portable NDIR CO2 analyzer (reference method)",
        "Sim Instruments",
        "PA-20",
        "PA20-0003",
        asset_tag="STD-NDIR-01",
        rng=(0, 20, "percent_vol"),
    )
    pitot = _equipment(
        s,
        "stack_probe",
        "S型皮托管烟气测试仪 S-type pitot stack tester",
        "Sim Emission",
        "PT-3012",
        "PT3012-0021",
        asset_tag="STD-PITOT-01",
    )
    env = _equipment(
        s,
        "environment_monitor",
        "便携式温湿度气压计 Portable environment monitor",
        "Sim Env",
        "THP-2",
        "THP2-0031",
        asset_tag="STD-ENV-02",
    )
    s.add(
        ExternalCertificate(
            equipment_id=env.id,
            issuer="中国计量科学研究院 National Institute of Metrology, China",
            number=f"NIM-{today.year - 1}-{env.id:05d}",
            calibrated_on=today - timedelta(days=100),
            issued_on=today - timedelta(days=95),
            valid_until=today + timedelta(days=265),
            values={"summary": "T ±0.2 °C, RH ±2 %, p ±0.1 kPa"},
        )
    )
    _standard(
        s,
        today,
        "STD-BELT-001",
        "皮带秤现场检定装置",
        "Belt scale on-site verification standard",
        [(scale, "balance"), (chain, "test_chain")],
        measurand="mass",
        range_text="0–60 t; chain 60 kg/m",
        uncertainty_text="U_rel = 0.05 % (k=2)",
        check=(20000.0, 20004.0, 10.0, "kilogram"),
        stated={
            "balance": ("mass (relative error)=0 %;U=0.05 %;k=2", "mass=0..60000 kg"),
            "test_chain": ("linear mass=60.0 kg/m;U=0.03 kg/m;k=2",),
        },
    )
    _standard(
        s,
        today,
        "STD-CEMS-001",
        "烟气排放连续监测系统现场检测装置",
        "CEMS on-site test standard",
        [(dilutor, "gas_dilutor"), (reference, "gas_analyzer"), (pitot, "stack_probe")],
        measurand="amount fraction",
        range_text="CO2 0–20 %; velocity 5–40 m/s",
        uncertainty_text="U_rel = 1.0 % (k=2)",
        check=(12.0, 12.03, 0.12, "percent"),
        stated={
            "gas_dilutor": ("amount fraction=0..200000 umol/mol",),
            "gas_analyzer": (
                "amount fraction (relative error)=0 %;U=1.0 %;k=2",
                "amount fraction=0..200000 umol/mol",
            ),
            "stack_probe": ("velocity=5..40 m/s",),
        },
    )
    for i, (tag, gbw, value, big_u) in enumerate(ONSITE_GASES, start=1):
        s.add(
            ReferenceMaterial(
                tag=tag,
                gbw_number=gbw,
                name="高纯氮 Zero gas N2" if value == 0 else "氮中二氧化碳 CO2 in N2",
                producer="国家标准物质中心 (demo)",
                component="N2" if value == 0 else "CO2",
                matrix="" if value == 0 else "N2",
                certified_value=value,
                expanded_uncertainty=big_u,
                coverage_factor=2.0,
                unit="percent_vol",
                certificate_number=f"RMC-{gbw}",
                lot=f"L{today.year}-P{i:02d}",
                cylinder_number=f"CYL-P{i:03d}",
                received_on=today - timedelta(days=40),
                opened_on=today - timedelta(days=30),
                expires_on=today + timedelta(days=320),
                remaining=8.0,
                minimum=1.0,
                remaining_unit="megapascal",
            )
        )
    order = WorkOrder(
        number=ONSITE_ORDER,
        customer_id=customer.id,
        received_on=today - timedelta(days=3),
        due_on=today + timedelta(days=10),
    )
    s.add(order)
    s.flush()
    for eq, proc in ((belt, "jjg195-belt-scale"), (cems, "hj75-co2-cems")):
        s.add(
            WorkOrderItem(
                work_order_id=order.id,
                equipment_id=eq.id,
                service=ServiceKind.VERIFICATION,
                procedure_id=proc,
                condition_on_receipt="现场检定，运行正常 On site, in operation",
                due_on=order.due_on,
            )
        )
    s.flush()
    zhang = users["zhang"]
    site = onsite.add_site(
        s, zhang, customer.name, site_text, "1号机组 Unit 1: conveyor C3, stack 1 port A"
    )
    visit = onsite.plan_visit(
        s, zhang, site.id, today, today + timedelta(days=1), work_order=ONSITE_ORDER
    )
    for tag in ONSITE_STANDARDS:
        onsite.check_out(s, zhang, visit.id, "standard", tag)
    onsite.check_out(s, zhang, visit.id, "equipment", "STD-ENV-02")
    for tag, *_ in ONSITE_GASES:
        onsite.check_out(s, zhang, visit.id, "reference_material", tag)


def mark_demo_run_on_site(db: Database, run_id: int, item_id: int, operator: str) -> bool:
    """Mark a demo run as done on site when its item's work order has a visit (the demo's
    on-site order); returns whether it was marked."""
    with db.write(actor=operator, reason=f"run {run_id} done on site") as s:
        item = s.get(WorkOrderItem, item_id)
        visit = (
            s.scalars(
                select(SiteVisit).where(SiteVisit.work_order_id == item.work_order_id)
            ).first()
            if item is not None
            else None
        )
        if visit is None:
            return False
        user = s.scalars(select(User).where(User.username == operator)).one()
        onsite.mark_run_on_site(s, user, run_id, visit.id)
        return True
