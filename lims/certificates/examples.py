"""Example certificate documents, for demonstrations, benchmarks and tests.

:func:`example_document` builds a complete document of each type for a CO2
infrared analyzer (JJG 635-2011) or, for calibration, a gas flowmeter. The
numbers follow REGULATIONS.md §3's worked example (1000 µmol/mol point,
readings 1004/1006/1005 on a 2000 µmol/mol range).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from lims.certificates.model import (
    AdjustmentStatus,
    BiText,
    CertificateDates,
    CertificateDocument,
    CertificateType,
    Conclusion,
    Customer,
    DecisionRule,
    Deviation,
    DeviationKind,
    Environment,
    Item,
    Laboratory,
    Location,
    Meaning,
    Method,
    Replaces,
    ResultRow,
    ResultSection,
    Signatory,
    Standard,
    StandardKind,
    Verdict,
)
from lims.units import Q_

__all__ = ["EXAMPLE_LAB", "example_document"]

EXAMPLE_LAB = Laboratory(
    name=BiText("示例市碳计量中心", "Example City Carbon Metrology Center"),
    address=BiText("示例市计量路 1 号", "1 Metrology Road, Example City"),
    accreditation_number="CNAS L99999",
    email="lab@example.cn",
    phone="+86 10 0000 0000",
    city="示例市 Example City",
)

_SIGNATORIES = (
    Signatory(Meaning.PERFORMED, "zhang.wei", "张伟 Zhang Wei"),
    Signatory(Meaning.REVIEWED, "li.na", "李娜 Li Na"),
    Signatory(Meaning.APPROVED, "wang.fang", "王芳 Wang Fang"),
)


def _co2_row(nominal: float, readings_mean: float, verdict: Verdict) -> ResultRow:
    full_scale = 2000.0
    error_fs = (readings_mean - nominal) / full_scale * 100
    return ResultRow(
        point=Q_(nominal, "µmol/mol"),
        reference=Q_(nominal, "µmol/mol"),
        indication=Q_(readings_mean, "µmol/mol"),
        error=Q_(round(error_fs, 2), "percent_FS"),
        mpe=Q_(2.0, "percent_FS"),
        expanded_uncertainty=Q_(0.5, "percent_FS"),
        coverage_factor=2.0,
        verdict=verdict,
    )


def example_document(
    certificate_type: CertificateType = CertificateType.VERIFICATION,
    *,
    number: str = "JD2025-000123",
    simulated: bool = False,
    amendment_of: str | None = None,
    unverified_table: bool = True,
) -> CertificateDocument:
    """A complete, valid document of the given type (see the module docstring)."""
    calibration = certificate_type is CertificateType.CALIBRATION
    failing = certificate_type is CertificateType.NON_CONFORMITY
    if calibration:
        item = Item(
            description=BiText("涡轮气体流量计", "Turbine gas flowmeter"),
            manufacturer="示例仪表 Example Instruments",
            model="TG-50",
            serial_number="TG50-2024-0815",
            asset_tag="CUST-FM-07",
            measuring_range="(4 ~ 40) m³/h",
            accuracy_class="1.0",
            condition_on_receipt=BiText("外观完好，可正常工作", "No visible damage; operational"),
        )
        method = Method(
            "JJG 1037-2008",
            BiText("涡轮流量计", "Turbine flowmeters"),
            table_version="2025.1",
            table_has_unverified_values=unverified_table,
        )
        sections: tuple[ResultSection, ...] = (
            ResultSection(
                key="flow_error",
                title=BiText("示值误差", "Indication error"),
                rows=tuple(
                    ResultRow(
                        point=Q_(p, "m³/h"),
                        reference=Q_(ref, "m³/h"),
                        indication=Q_(ind, "m³/h"),
                        error=Q_(err, "percent"),
                        mpe=None,
                        expanded_uncertainty=Q_(0.3, "percent"),
                        coverage_factor=2.0,
                        verdict=Verdict.NO_STATEMENT,
                    )
                    for p, ref, ind, err in (
                        (4.0, 4.012, 4.030, 0.45),
                        (16.0, 15.98, 16.05, 0.44),
                        (40.0, 40.06, 40.20, 0.35),
                    )
                ),
                verdict=Verdict.NO_STATEMENT,
                adjustment=AdjustmentStatus.BEFORE_ADJUSTMENT,
            ),
        )
        conclusion = Conclusion(
            Verdict.NO_STATEMENT,
            BiText("校准结果见第 2 页", "See the calibration results on page 2"),
        )
        decision_rule = None
        valid_until = None
        env = Environment(Q_(21.5, "degC"), Q_(48.0, "percent"), Q_(101.2, "kPa"))
        standards: tuple[Standard, ...] = (
            Standard(
                name=BiText("气体流量标准装置", "Gas flow standard facility"),
                identifier="STD-FLOW-01",
                measuring_range="(0.1 ~ 100) m³/h",
                uncertainty_or_class="Urel = 0.25 % (k=2)",
                certificate_number="NIM-2025-F-0042",
                valid_until=date(2026, 3, 31),
                traceability="中国计量科学研究院 NIM",
            ),
        )
    else:
        item = Item(
            description=BiText("二氧化碳红外气体分析器", "CO2 infrared gas analyzer"),
            manufacturer="示例分析仪器 Example Analytics",
            model="IR-CO2-2000",
            serial_number="SN20240917",
            asset_tag="CUST-GA-12",
            measuring_range="(0 ~ 2000) µmol/mol",
            accuracy_class="±2 %FS",
            condition_on_receipt=BiText(
                "外观完好，通电正常", "No visible damage; powers up normally"
            ),
        )
        method = Method(
            "JJG 635-2011",
            BiText(
                "一氧化碳、二氧化碳红外气体分析器",
                "Carbon monoxide and carbon dioxide infrared gas analyzers",
            ),
            table_version="2025.1",
            table_has_unverified_values=unverified_table,
            procedure="jjg635 1.0.0",
        )
        last = Verdict.FAIL if failing else Verdict.PASS
        rows = (
            _co2_row(400.0, 403.0, Verdict.PASS),
            _co2_row(1000.0, 1005.0, Verdict.PASS),
            _co2_row(1600.0, 1660.0 if failing else 1608.0, last),
        )
        sections = (
            ResultSection(
                key="indication_error",
                title=BiText("示值误差", "Indication error"),
                rows=rows,
                verdict=last,
                full_scale=Q_(2000.0, "µmol/mol"),
            ),
            ResultSection(
                key="response_time",
                title=BiText("响应时间", "Response time (T90)"),
                rows=(
                    ResultRow(
                        point=Q_(1600.0, "µmol/mol"),
                        reference=Q_(60.0, "s"),
                        indication=Q_(31.0, "s"),
                        error=Q_(31.0, "s"),
                        mpe=Q_(60.0, "s"),
                        expanded_uncertainty=None,
                        coverage_factor=None,
                        verdict=Verdict.PASS,
                        label="T90",
                    ),
                ),
                verdict=Verdict.PASS,
                note=BiText("示值为 T90，限值 60 s", "The indication is T90; limit 60 s"),
            ),
        )
        if failing:
            conclusion = Conclusion(
                Verdict.FAIL,
                BiText(
                    "不符合 JJG 635-2011 要求，示值误差不合格",
                    "Does not conform to JJG 635-2011: indication error failed",
                ),
            )
            valid_until = None
        else:
            conclusion = Conclusion(
                Verdict.PASS,
                BiText("符合 JJG 635-2011 要求，准予作合格", "Conforms to JJG 635-2011: passed"),
            )
            valid_until = date(2026, 5, 11)
        decision_rule = DecisionRule(
            "JJF1094-U/3",
            BiText(
                "按 JJF 1094：U95 ≤ MPE/3 时，|误差| ≤ MPE 判合格",
                "JJF 1094: with U95 ≤ MPE/3, pass if |error| ≤ MPE",
            ),
        )
        env = Environment(Q_(22.0, "degC"), Q_(55.0, "percent"), Q_(101.3, "kPa"))
        standards = (
            Standard(
                name=BiText("氮中二氧化碳气体标准物质", "CO2 in nitrogen CRM"),
                identifier="GBW(E)061234",
                measuring_range="1000 µmol/mol",
                uncertainty_or_class="Urel = 1 % (k=2)",
                certificate_number="RM-2025-0456",
                valid_until=date(2026, 1, 31),
                traceability="中国计量科学研究院 NIM",
                kind=StandardKind.REFERENCE_MATERIAL,
            ),
            Standard(
                name=BiText("高纯氮（零点气）", "High-purity nitrogen (zero gas)"),
                identifier="N2-99.999",
                measuring_range="—",
                uncertainty_or_class="99.999 %",
                certificate_number="QC-N2-2025-07",
                valid_until=date(2025, 12, 31),
                traceability="供应商合格证 supplier certificate",
                kind=StandardKind.REFERENCE_MATERIAL,
            ),
        )
    replaces = None
    revision = 0
    if amendment_of is not None:
        original = example_document(
            certificate_type,
            number=amendment_of,
            simulated=simulated,
            unverified_table=unverified_table,
        )
        replaces = Replaces(
            amendment_of, "客户名称更正 / customer name corrected", original.content_hash()
        )
        revision = 1
    return CertificateDocument(
        number=number,
        certificate_type=certificate_type,
        laboratory=EXAMPLE_LAB,
        customer=Customer(
            name="示例能源有限公司 Example Energy Co., Ltd.",
            address="示例市工业园 8 号 / 8 Industrial Park, Example City",
            contact_person="赵强 Zhao Qiang",
            phone="+86 10 1111 2222",
            email="qa@example-energy.cn",
        ),
        item=item,
        dates=CertificateDates(
            receipt=date(2025, 5, 6),
            performance_start=date(2025, 5, 12),
            performance_end=date(2025, 5, 12),
            issue=date(2025, 5, 14),
            valid_until=valid_until,
        ),
        location=Location(BiText("本实验室气体室 101", "Laboratory gas room 101")),
        method=method,
        decision_rule=decision_rule,
        standards=standards,
        environment=env,
        sections=sections,
        conclusion=conclusion,
        original_record="RUN-2025-05-12-0007",
        simulated=simulated,
        deviations=(
            Deviation(
                DeviationKind.OVERRIDE,
                BiText(
                    "标准物质 GBW(E)061234 期间核查逾期 2 天，经批准继续使用",
                    "Intermediate check of GBW(E)061234 overdue by 2 days; use approved",
                ),
                reason="核查已预约，上次核查结果良好 / check booked; last check passed",
                by="王芳 Wang Fang",
                at=datetime(2025, 5, 12, 1, 30, tzinfo=UTC),
            ),
        ),
        signatories=_SIGNATORIES,
        revision=revision,
        replaces=replaces,
    )
