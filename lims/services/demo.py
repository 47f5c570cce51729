"""The demo laboratory: customers, instruments, standards, reference materials, users.

Dates are relative to the day the demo is created, so that the demo lab's
standards and reference materials are valid when it is used. Every password
here is a demo password, printed by ``lims demo``; a real lab never runs this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.models import (
    Contact,
    Customer,
    Equipment,
    ExternalCertificate,
    IntermediateCheck,
    LabAuthority,
    MeasurementStandard,
    ReferenceMaterial,
    Role,
    ServiceKind,
    StandardMember,
    WorkOrder,
    WorkOrderItem,
)
from lims.quality.standard_certificates import (
    CertificateData,
    certificate_content,
    parse_range,
    parse_value,
)
from lims.security import PasswordPolicy
from lims.services.demo_fuel_lab import seed_fuel_lab
from lims.services.demo_onsite import seed_onsite_demo
from lims.services.lab import LabIdentity
from lims.services.signing_keys import create_authority, issue_credentials
from lims.services.users import create_user, grant_authorization

DEMO_LAB = LabIdentity(
    name_zh="示范碳计量中心",
    name_en="Demonstration Carbon Metrology Centre",
    address_zh="北京市海淀区示范路1号",
    address_en="1 Demo Road, Haidian District, Beijing",
    accreditation_number="CNAS L00000 (demo)",
    certificate_prefix="DEMO",
    city="北京 Beijing",
    email="lab@demo.example.cn",
    phone="010-0000 0000",
)
DEMO_ADMIN = ("admin", "系统管理员 Administrator", "Root#Lims-2026")
#: Passphrase of the demo lab's certificate authority (demo only, never for real use).
DEMO_CA_PASSWORD = "Demo-CA#2026"


@dataclass(frozen=True)
class DemoUser:
    """A demo account."""

    username: str
    full_name: str
    full_name_en: str
    password: str
    roles: tuple[Role, ...]


DEMO_USERS = (
    DemoUser("zhang", "张伟", "Zhang Wei", "Bench#2026-zw", (Role.TECHNICIAN,)),
    DemoUser("li", "李娜", "Li Na", "Review#2026-ln", (Role.TECHNICIAN, Role.REVIEWER)),
    DemoUser("wang", "王芳", "Wang Fang", "Approve#2026-wf", (Role.APPROVER,)),
    DemoUser("chen", "陈静", "Chen Jing", "Quality#2026-cj", (Role.QUALITY_MANAGER,)),
    DemoUser("zhao", "赵敏", "Zhao Min", "Audit#2026-zm", (Role.AUDITOR,)),
)

PROCEDURE_IDS = (
    "jjg635",
    "gas-analyzer-cal",
    "jjg1037-gas-flowmeter",
    "jjg1148-ac-pile",
    "jjg1149-dc-charger",
    "elemental-analyzer-cal",
    "jjg672-bomb-calorimeter",
    "jjg1006-sulfur-analyzer",
)


def _equipment(
    s: Session,
    kind: str,
    description: str,
    manufacturer: str,
    model: str,
    serial: str,
    *,
    owner: Customer | None = None,
    asset_tag: str | None = None,
    rng: tuple[float, float, str] | None = None,
    accuracy: str = "",
    location: str = "",
    specs: dict[str, str] | None = None,
) -> Equipment:
    eq = Equipment(
        kind=kind,
        description=description,
        manufacturer=manufacturer,
        model=model,
        serial_number=serial,
        asset_tag=asset_tag,
        range_min=rng[0] if rng else None,
        range_max=rng[1] if rng else None,
        range_unit=rng[2] if rng else None,
        accuracy=accuracy,
        owner_customer_id=owner.id if owner else None,
        location=location,
        specs=dict(specs or {}),
    )
    s.add(eq)
    s.flush()
    return eq


def _certificate_values(summary: str, stated: tuple[str, ...]) -> dict[str, object]:
    values = tuple(parse_value(t) for t in stated if ".." not in t)
    ranges = tuple(parse_range(t) for t in stated if ".." in t)
    today = date.today()
    data = CertificateData("—", "—", today, today, today + timedelta(days=1), values, ranges)
    return certificate_content(data) | {"summary": summary}


def _standard(
    s: Session,
    today: date,
    tag: str,
    name_zh: str,
    name_en: str,
    members: list[tuple[Equipment, str]],
    *,
    measurand: str,
    range_text: str,
    uncertainty_text: str,
    check: tuple[float, float, float, str],
    stated: dict[str, tuple[str, ...]] | None = None,
) -> MeasurementStandard:
    """A standard with its members' certificates and a passed intermediate check
    ``check`` = (nominal, measured, limit, unit); ``stated`` gives, per member role, what
    its certificate states: ``QUANTITY=VALUE;U=…;k=…`` values and ``QUANTITY=LOW..HIGH``
    calibrated ranges (the forms ``lims standards certificate add`` takes)."""
    std = MeasurementStandard(
        tag=tag,
        name_zh=name_zh,
        name_en=name_en,
        approval_certificate=f"[2024]国量标示证字第{tag[-3:]}号 (demo)",
        measurand=measurand,
        range_text=range_text,
        uncertainty_text=uncertainty_text,
    )
    s.add(std)
    s.flush()
    for eq, role in members:
        s.add(StandardMember(standard_id=std.id, equipment_id=eq.id, role=role))
        s.add(
            ExternalCertificate(
                equipment_id=eq.id,
                issuer="中国计量科学研究院 National Institute of Metrology, China",
                number=f"NIM-{today.year - 1}-{eq.id:05d}",
                calibrated_on=today - timedelta(days=120),
                issued_on=today - timedelta(days=115),
                valid_until=today + timedelta(days=245),
                values=_certificate_values(uncertainty_text, (stated or {}).get(role, ())),
            )
        )
    s.add(
        IntermediateCheck(
            standard_id=std.id,
            performed_on=today - timedelta(days=30),
            quantity=measurand,
            nominal=check[0],
            measured=check[1],
            limit=check[2],
            unit=check[3],
            passed=abs(check[1] - check[0]) <= check[2],
            notes="期间核查合格 Intermediate check passed",
        )
    )
    return std


def seed_demo(s: Session, policy: PasswordPolicy, today: date, *, onsite: bool = True) -> None:
    """Fill a freshly initialized database with the demo lab's records (``onsite``: also
    the on-site order, its portable standards, site and visit)."""
    users = {
        u.username: create_user(
            s, u.username, u.full_name, u.password, u.roles, policy, full_name_en=u.full_name_en
        )
        for u in DEMO_USERS
    }
    if s.scalars(select(LabAuthority)).first() is None:
        create_authority(s, f"{DEMO_LAB.name_en} Root CA", DEMO_LAB.name_en, DEMO_CA_PASSWORD)
    for account in DEMO_USERS:
        issue_credentials(s, users[account.username], account.password, DEMO_CA_PASSWORD)
    for tech in ("zhang", "li"):
        for proc in PROCEDURE_IDS:
            grant_authorization(
                s,
                users[tech],
                proc,
                today - timedelta(days=200),
                today + timedelta(days=530),
                competence_certificate=f"JL-{tech.upper()}-{proc}",
                granted_by=users["chen"],
            )

    power = Customer(name="华北电力检测有限公司 North China Power Testing Co.", address="天津市")
    env = Customer(
        name="绿源环境监测站 Green Source Environmental Monitoring", address="河北省石家庄市"
    )
    chem = Customer(name="中化分析测试中心 Sinochem Analysis Centre", address="上海市")
    s.add_all([power, env, chem])
    s.flush()
    s.add_all(
        [
            Contact(customer_id=power.id, name="刘强 Liu Qiang", phone="022-00000001"),
            Contact(customer_id=env.id, name="孙丽 Sun Li", phone="0311-0000002"),
            Contact(customer_id=chem.id, name="周杰 Zhou Jie", email="zhou@example.cn"),
        ]
    )

    # Instruments under test (customers' property).
    co2 = _equipment(
        s,
        "gas_analyzer",
        "红外二氧化碳分析仪 NDIR CO2 analyzer",
        "Sim Instruments",
        "CA-2000",
        "CA2000-0001",
        owner=env,
        rng=(0, 2000, "micromole / mole"),
        accuracy="±2 %FS",
        specs={"component": "CO2", "resolution": "0.1 umol/mol"},
    )
    ch4 = _equipment(
        s,
        "gas_analyzer",
        "甲烷分析仪 CH4 analyzer",
        "Sim Instruments",
        "MA-100",
        "MA100-0042",
        owner=env,
        rng=(0, 100, "micromole / mole"),
        specs={"component": "CH4", "resolution": "0.01 umol/mol"},
    )
    flow = _equipment(
        s,
        "gas_flowmeter",
        "气体涡轮流量计 Gas turbine flowmeter",
        "Sim Flow",
        "TFM-50",
        "TFM50-7788",
        owner=power,
        rng=(0.5, 10, "meter ** 3 / hour"),
        accuracy="1.0 级 class 1.0",
        specs={"accuracy_class": "1.0", "k_factor": "10 1/L"},
    )
    ac = _equipment(
        s,
        "ac_charging_pile",
        "交流充电桩 AC charging pile",
        "Sim EV",
        "AC-7K",
        "AC7K-2301",
        owner=power,
        accuracy="2 级 class 2",
        specs={
            "accuracy_class": "2",
            "rated_power": "7 kW",
            "nominal_voltage": "220 V",
            "meter_constant": "1000 1/kWh",
            "tariff": "1.20 yuan/kWh",
        },
    )
    dc = _equipment(
        s,
        "dc_charger",
        "非车载充电机 DC off-board charger",
        "Sim EV",
        "DC-60K",
        "DC60K-1203",
        owner=power,
        accuracy="1 级 class 1",
        specs={
            "accuracy_class": "1",
            "rated_power": "60 kW",
            "nominal_voltage": "750 V",
            "meter_constant": "100 1/kWh",
            "tariff": "1.65 yuan/kWh",
        },
    )
    ea = _equipment(
        s,
        "elemental_analyzer",
        "元素分析仪 CHNS elemental analyzer",
        "Sim Lab",
        "EA-4",
        "EA4-3141",
        owner=chem,
    )

    # The lab's own equipment and standards.
    dil = _equipment(
        s,
        "gas_dilutor",
        "动态配气仪 Gas dilution system",
        "Sim Gas",
        "GD-10",
        "GD10-0007",
        asset_tag="STD-GD-01",
        location="气体室 Gas lab",
    )
    envmon = _equipment(
        s,
        "environment_monitor",
        "温湿度气压计 Environment monitor",
        "Sim Env",
        "THP-1",
        "THP1-0101",
        asset_tag="STD-ENV-01",
        location="气体室 Gas lab",
    )
    flowstd = _equipment(
        s,
        "reference_flow_standard",
        "临界流文丘里喷嘴装置 Sonic-nozzle flow standard",
        "Sim Flow",
        "SN-100",
        "SN100-0003",
        asset_tag="STD-FLOW-01",
        rng=(0.1, 100, "meter ** 3 / hour"),
        accuracy="U=0.25 % (k=2)",
    )
    pile_tester = _equipment(
        s,
        "pile_tester",
        "充电桩检定装置 Charging-pile verification device",
        "Sim EV",
        "CPV-3",
        "CPV3-0011",
        asset_tag="STD-EV-01",
        accuracy="0.05 级 class 0.05",
    )
    load = _equipment(
        s,
        "programmable_load",
        "可编程负载 Programmable load",
        "Sim EV",
        "LD-80",
        "LD80-0005",
        asset_tag="STD-EV-02",
    )
    balance = _equipment(
        s,
        "balance",
        "微量天平 Microbalance",
        "Sim Lab",
        "MB-6",
        "MB6-0099",
        asset_tag="STD-BAL-01",
        accuracy="d=0.001 mg",
    )

    _standard(
        s,
        today,
        "STD-GAS-001",
        "气体分析仪检定装置",
        "Gas analyzer verification standard",
        [(dil, "gas_dilutor"), (envmon, "environment_monitor")],
        measurand="amount fraction",
        range_text="0–2000 µmol/mol",
        uncertainty_text="U_rel = 1.0 % (k=2)",
        check=(400.0, 400.9, 4.0, "micromole / mole"),
        stated={
            "gas_dilutor": ("amount fraction=0..2000 umol/mol",),
            "environment_monitor": (
                "temperature=-10..50 degC",
                "relative humidity=10..95 percent",
                "pressure=70..110 kPa",
            ),
        },
    )
    _standard(
        s,
        today,
        "STD-FLOW-001",
        "气体流量标准装置",
        "Gas flow standard facility",
        [(flowstd, "reference_flow_standard")],
        measurand="volume flow",
        range_text="0.1–100 m³/h",
        uncertainty_text="U_rel = 0.25 % (k=2)",
        check=(10.0, 10.004, 0.025, "meter ** 3 / hour"),
        stated={
            "reference_flow_standard": (
                "volume flow (relative error)=0 %;U=0.25 %;k=2",
                "volume flow=0.1..100 m**3/h",
            )
        },
    )
    _standard(
        s,
        today,
        "STD-EV-001",
        "电动汽车充电桩检定装置",
        "EV charging pile verification standard",
        [(pile_tester, "pile_tester"), (load, "programmable_load")],
        measurand="electric energy",
        range_text="AC 220 V / DC 200–750 V, 0–250 A",
        uncertainty_text="0.05 级 class 0.05",
        check=(1.0, 1.0002, 0.0005, "kilowatt_hour"),
        stated={"pile_tester": ("current=0..250 A", "voltage=0..1000 V")},
    )
    _standard(
        s,
        today,
        "STD-EA-001",
        "元素分析仪校准装置",
        "Elemental analyzer calibration standard",
        [(balance, "balance")],
        measurand="mass fraction",
        range_text="C, H, N, S 0–100 %",
        uncertainty_text="balance d = 0.001 mg",
        check=(10.0, 10.002, 0.005, "milligram"),
        stated={"balance": ("mass=0..6 g",)},
    )

    cylinders = [
        (
            "RM-N2-0001",
            "GBW(E)061050",
            "高纯氮 Zero gas N2",
            "N2",
            "",
            0.0,
            0.0,
            "micromole / mole",
        ),
        (
            "RM-CO2-0400",
            "GBW(E)062140",
            "氮中二氧化碳 CO2 in N2",
            "CO2",
            "N2",
            400.0,
            4.0,
            "micromole / mole",
        ),
        (
            "RM-CO2-1000",
            "GBW(E)062141",
            "氮中二氧化碳 CO2 in N2",
            "CO2",
            "N2",
            1000.0,
            10.0,
            "micromole / mole",
        ),
        (
            "RM-CO2-1600",
            "GBW(E)062142",
            "氮中二氧化碳 CO2 in N2",
            "CO2",
            "N2",
            1600.0,
            16.0,
            "micromole / mole",
        ),
        (
            "RM-CH4-0020",
            "GBW(E)061901",
            "空气中甲烷 CH4 in air",
            "CH4",
            "air",
            20.0,
            0.2,
            "micromole / mole",
        ),
        (
            "RM-CH4-0050",
            "GBW(E)061902",
            "空气中甲烷 CH4 in air",
            "CH4",
            "air",
            50.0,
            0.5,
            "micromole / mole",
        ),
        (
            "RM-CH4-0080",
            "GBW(E)061903",
            "空气中甲烷 CH4 in air",
            "CH4",
            "air",
            80.0,
            0.8,
            "micromole / mole",
        ),
    ]
    for i, (tag, gbw, name, comp, matrix, val, u, unit) in enumerate(cylinders, start=1):
        s.add(
            ReferenceMaterial(
                tag=tag,
                gbw_number=gbw,
                name=name,
                producer="国家标准物质中心 (demo)",
                component=comp,
                matrix=matrix,
                certified_value=val,
                expanded_uncertainty=u,
                coverage_factor=2.0,
                unit=unit,
                certificate_number=f"RMC-{gbw}",
                lot=f"L{today.year}-{i:02d}",
                cylinder_number=f"CYL-{i:04d}",
                received_on=today - timedelta(days=60),
                opened_on=today - timedelta(days=50),
                expires_on=today + timedelta(days=300),
                remaining=9.5,
                minimum=1.0,
                remaining_unit="megapascal",
            )
        )
    crms = [
        ("RM-ACET-01", "GBW(E)130220", "乙酰苯胺 Acetanilide", "C", 71.09, 0.10),
        ("RM-SULF-01", "GBW(E)130221", "磺胺 Sulfanilamide", "S", 18.62, 0.10),
        ("RM-BENZ-01", "GBW(E)130222", "苯甲酸 Benzoic acid", "C", 68.85, 0.10),
        ("RM-BBOT-01", "GBW(E)130223", "BBOT", "C", 72.53, 0.10),
    ]
    for tag, gbw, name, comp, val, u in crms:
        s.add(
            ReferenceMaterial(
                tag=tag,
                gbw_number=gbw,
                name=name,
                producer="国家标准物质中心 (demo)",
                component=comp,
                matrix="solid",
                certified_value=val,
                expanded_uncertainty=u,
                coverage_factor=2.0,
                unit="percent",
                certificate_number=f"RMC-{gbw}",
                lot=f"L{today.year}-EA",
                received_on=today - timedelta(days=90),
                opened_on=today - timedelta(days=80),
                expires_on=today + timedelta(days=700),
                remaining=950.0,
                minimum=50.0,
                remaining_unit="milligram",
            )
        )

    orders = [
        (
            env,
            "WO-DEMO-0001",
            [
                (co2, ServiceKind.VERIFICATION, "jjg635"),
                (ch4, ServiceKind.CALIBRATION, "gas-analyzer-cal"),
            ],
        ),
        (
            power,
            "WO-DEMO-0002",
            [
                (flow, ServiceKind.VERIFICATION, "jjg1037-gas-flowmeter"),
                (ac, ServiceKind.VERIFICATION, "jjg1148-ac-pile"),
                (dc, ServiceKind.VERIFICATION, "jjg1149-dc-charger"),
            ],
        ),
        (chem, "WO-DEMO-0003", [(ea, ServiceKind.CALIBRATION, "elemental-analyzer-cal")]),
    ]
    for customer, number, items in orders:
        wo = WorkOrder(
            number=number,
            customer_id=customer.id,
            received_on=today - timedelta(days=2),
            due_on=today + timedelta(days=12),
        )
        s.add(wo)
        s.flush()
        for eq, service, proc in items:
            s.add(
                WorkOrderItem(
                    work_order_id=wo.id,
                    equipment_id=eq.id,
                    service=service,
                    procedure_id=proc,
                    condition_on_receipt="外观完好 Good condition",
                    due_on=wo.due_on,
                )
            )
    s.flush()
    seed_fuel_lab(s, today)
    if onsite:
        seed_onsite_demo(s, today, power, users)  # belt scale and CO2 CEMS, on site
