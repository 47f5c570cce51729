"""The building blocks of the certificate PDF: styles, wrapped text, grids, the result
tables and the uncertainty-budget annex.

Every number is written by :mod:`lims.certificates.numbers`; every cell is broken by
:mod:`lims.certificates.wrapping` (never inside a word or an identifier). A result table
leaves out the columns no row fills (a calibration without a statement of conformity has
no MPE and no verdict column); a heading stays with its table and a table never leaves a
single row at the top or the bottom of a page.
"""

from __future__ import annotations

import math
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Table, TableStyle

from lims.certificates.fonts import register_fonts
from lims.certificates.model import (
    BiText,
    BudgetAnnex,
    CertificateDocument,
    CertificateType,
    ResultSection,
    StandardKind,
    Verdict,
)
from lims.certificates.numbers import (
    quantity_text,
    reading_decimals,
    row_texts,
    uncertainty_text,
    with_unit,
)
from lims.certificates.wrapping import WrappedText

__all__ = [
    "Styles",
    "budget_annex",
    "budget_rows",
    "grid",
    "kv_table",
    "label",
    "para",
    "result_section",
    "standards_table",
]

DASH = "—"


class Styles:
    """The paragraph styles of a certificate, in one embedded font."""

    def __init__(self, font: str) -> None:
        base = ParagraphStyle(
            "base",
            fontName=font,
            bulletFontName=font,
            fontSize=8.5,
            leading=11.5,
        )
        self.base = base
        self.small = ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5)
        self.cell = ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.2)
        self.cell_c = ParagraphStyle("cell_c", parent=self.cell, alignment=TA_CENTER)
        self.label = ParagraphStyle("label", parent=base, textColor=colors.HexColor("#333333"))
        self.title = ParagraphStyle(
            "title", parent=base, fontSize=20, leading=26, alignment=TA_CENTER, spaceAfter=2
        )
        self.subtitle = ParagraphStyle(
            "subtitle", parent=base, fontSize=11, leading=14, alignment=TA_CENTER, spaceAfter=6
        )
        self.h2 = ParagraphStyle(
            "h2", parent=base, fontSize=10.5, leading=14, spaceBefore=7, spaceAfter=3
        )
        self.h2.keepWithNext = 1
        self.h3 = ParagraphStyle("h3", parent=base, fontSize=9.5, leading=12, spaceBefore=5)
        self.h3.keepWithNext = 1
        self.notice = ParagraphStyle(
            "notice",
            parent=base,
            textColor=colors.HexColor("#9b1c1c"),
            borderColor=colors.HexColor("#9b1c1c"),
            borderWidth=0.6,
            borderPadding=4,
            spaceBefore=6,
            spaceAfter=6,
        )
        self.end = ParagraphStyle(
            "end", parent=base, fontSize=9.5, alignment=TA_CENTER, spaceBefore=10
        )


def para(text: str, style: ParagraphStyle) -> WrappedText:
    """Text broken at word and identifier boundaries for the width it gets."""
    return WrappedText(text, style)


def label(zh: str, en: str) -> str:
    """``中文 / English``."""
    return f"{zh} / {en}"


def kv_table(rows: list[tuple[str, str]], styles: Styles, width: float) -> Table:
    """Two columns: label | value."""
    data = [[para(k, styles.label), para(v, styles.base)] for k, v in rows]
    table = Table(data, colWidths=[width * 0.36, width * 0.64])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), styles.base.fontName),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def grid(data: list[list[Flowable]], widths: list[float], *, keep_rows: int = 2) -> Table:
    """A ruled table with a repeated header row; it never splits so that fewer than
    ``keep_rows`` body rows stand alone at the top or the bottom of a page."""
    table = Table(data, colWidths=widths, repeatRows=1)
    commands: list[Any] = [
        ("FONTNAME", (0, 0), (-1, -1), register_fonts()),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#777777")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]
    body = len(data) - 1
    if body >= 2 * keep_rows:
        commands.append(("NOSPLIT", (0, 0), (-1, keep_rows)))
        commands.append(("NOSPLIT", (0, body - keep_rows + 1), (-1, body)))
    elif body > 0:
        commands.append(("NOSPLIT", (0, 0), (-1, body)))
    table.setStyle(TableStyle(commands))
    return table


def _once(text: BiText) -> str:
    """A bilingual name on two lines, or once when both languages read the same."""
    return text.zh if text.zh == text.en else f"{text.zh}\n{text.en}"


def standards_table(doc: CertificateDocument, styles: Styles, width: float) -> Table:
    """The standards and reference materials used, with their certificates."""
    header = [
        label("名称", "Name"),
        label("编号", "ID"),
        label("测量范围", "Range"),
        label("不确定度/等级", "Uncertainty / class"),
        label("证书编号", "Certificate No."),
        label("有效期至", "Valid until"),
        label("溯源机构", "Traceable to"),
    ]
    data: list[list[Flowable]] = [[para(h, styles.cell) for h in header]]
    for std in doc.standards:
        kind = "标准物质 RM" if std.kind is StandardKind.REFERENCE_MATERIAL else "计量标准 standard"
        data.append(
            [
                para(f"{_once(std.name)}\n({kind})", styles.cell),
                para(std.identifier, styles.cell),
                para(std.measuring_range, styles.cell),
                para(std.uncertainty_or_class, styles.cell),
                para(std.certificate_number, styles.cell),
                para(std.valid_until.isoformat(), styles.cell),
                para(std.traceability, styles.cell),
            ]
        )
    fractions = (0.19, 0.13, 0.13, 0.14, 0.15, 0.11, 0.15)
    return grid(data, [width * f for f in fractions])


def _value_title(section: ResultSection) -> tuple[str, str]:
    title = section.value_title or BiText("误差", "Error")
    return title.zh, title.en


_COLUMNS = (
    ("point", ("测量点", "Point"), 0.17),
    ("reference", ("标准值", "Reference"), 0.14),
    ("indication", ("示值", "Indication"), 0.14),
    ("value", None, 0.13),
    ("limit", ("最大允许误差", "MPE"), 0.14),
    ("uncertainty", ("扩展不确定度", "U (k)"), 0.15),
    ("verdict", ("结论", "Verdict"), 0.13),
)


def _section_cells(section: ResultSection) -> list[dict[str, str]]:
    """Every row's cell texts, keyed by column (empty where the row has nothing)."""
    readings = [q for r in section.rows for q in (r.reference, r.indication) if q is not None]
    places = reading_decimals(readings) if readings else None
    out = []
    for row in section.rows:
        t = row_texts(row, places)
        point = t.point
        if row.label:
            point = f"{row.label}\n{point}" if point else row.label
        out.append(
            {
                "point": point,
                "reference": t.reference,
                "indication": t.indication,
                "value": t.value,
                "limit": t.limit,
                "uncertainty": f"{t.uncertainty}\n(k={t.k})" if t.uncertainty else "",
                "verdict": ""
                if row.verdict is Verdict.NO_STATEMENT
                else row.verdict.text.joined("\n"),
            }
        )
    return out


def result_section(
    section: ResultSection, styles: Styles, width: float, kind: CertificateType
) -> list[Flowable]:
    """A test item's heading, its table (empty columns left out) and its verdict."""
    heading = f"{section.title.zh} / {section.title.en}"
    if section.adjustment is not None:
        heading += (
            " — 调整前 / before adjustment"
            if section.adjustment.value == "beforeAdjustment"
            else " — 调整后 / after adjustment"
        )
    head: list[Flowable] = [para(heading, styles.h3)]
    if section.full_scale is not None:
        head.append(
            para(
                "引用值（满量程）/ Fiducial value (full scale): "
                f"{quantity_text(section.full_scale)}",
                styles.small,
            )
        )
    cells = _section_cells(section)
    keep = {"point", "value"}
    if kind is not CertificateType.CALIBRATION:
        keep.add("verdict")
    columns = [c for c in _COLUMNS if c[0] in keep or any(row[c[0]] for row in cells)]
    total = sum(c[2] for c in columns)
    header: list[Flowable] = []
    for key, title, _ in columns:
        zh, en = _value_title(section) if key == "value" else title  # type: ignore[misc]
        header.append(para(label(zh, en), styles.cell_c))
    data: list[list[Flowable]] = [header]
    for row in cells:
        data.append([para(row[key] or DASH, styles.cell_c) for key, _, _ in columns])
    table = grid(data, [width * c[2] / total for c in columns])
    tail: list[Flowable] = []
    if section.verdict is not Verdict.NO_STATEMENT:
        tail.append(para(f"本项结论 / Item verdict: {section.verdict.text.joined()}", styles.small))
    if section.note is not None:
        tail.append(para(section.note.joined("\n"), styles.small))
    # the heading (and the fiducial value) keep with the table; a KeepTogether here would
    # not group with a preceding heading (reportlab keeps only plain flowables together)
    for flowable in head:
        flowable.keepWithNext = 1
    return [*head, table, *tail]


def _num(x: float | None) -> str:
    if x is None or math.isinf(x):
        return "∞"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _q(v: Any) -> str:
    if v is None:
        return DASH
    if hasattr(v, "units"):
        return with_unit(f"{float(v.magnitude):.3g}", v)
    return f"{float(v):.3g}"


BUDGET_COLUMNS = (
    label("分量", "Component"),
    label("值/依据", "Value / basis"),
    label("分布", "Distribution"),
    label("标准不确定度", "u"),
    label("灵敏系数", "c"),
    label("贡献", "|c·u|"),
    label("自由度", "ν"),
)
"""Columns of a budget annex (the PDF and ``lims certificate show --budget``)."""


def budget_rows(annex: BudgetAnnex) -> tuple[list[tuple[str, ...]], str]:
    """A budget's component rows (:data:`BUDGET_COLUMNS`) and its closing line
    (u_c, ν_eff, k, U) as the annex prints them."""
    rows: list[tuple[str, ...]] = [
        (
            ln.component,
            ln.value or DASH,
            ln.distribution or DASH,
            _q(ln.u),
            _q(ln.sensitivity),
            _q(ln.contribution),
            _num(ln.dof),
        )
        for ln in annex.lines
    ]
    u = annex.expanded
    closing = (
        f"合成标准不确定度 u_c = {_q(annex.combined)}，有效自由度 ν_eff = {_num(annex.dof_eff)}，"
        f"k = {annex.k:.3g}，U = {with_unit(uncertainty_text(float(u.magnitude)), u)}\n"
        f"Combined standard uncertainty u_c = {_q(annex.combined)}, effective degrees of "
        f"freedom ν_eff = {_num(annex.dof_eff)}, k = {annex.k:.3g}, "
        f"U = {with_unit(uncertainty_text(float(u.magnitude)), u)}"
    )
    return rows, closing


def budget_annex(doc: CertificateDocument, styles: Styles, width: float) -> list[Flowable]:
    """The annex: one budget table per result the customer asked budgets for."""
    if not doc.budgets:
        return []
    titles = {s.key: s.title for s in doc.sections}
    story: list[Flowable] = [
        para(label("附录 不确定度评定", "Annex: uncertainty budgets"), styles.h2)
    ]
    fractions = (0.24, 0.16, 0.12, 0.13, 0.12, 0.13, 0.1)
    for annex in doc.budgets:
        title = titles.get(annex.section)
        heading = f"{title.zh} / {title.en} · {annex.point}" if title else annex.point
        rows, closing = budget_rows(annex)
        data: list[list[Flowable]] = [[para(h, styles.cell_c) for h in BUDGET_COLUMNS]]
        data += [[para(c, styles.cell_c) for c in row] for row in rows]
        story += [
            para(heading, styles.h3),
            grid(data, [width * f for f in fractions]),
            para(closing, styles.small),
        ]
    return story
