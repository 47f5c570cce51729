"""Render a :class:`CertificateDocument` as a bilingual A4 PDF (reportlab).

Every label is Chinese first with English beside it. Every page carries the
certificate number and "第 x 页 共 y 页 / Page x of y", the lab name and the
reproduction statement; the content ends with an end mark. Page 1 carries a
QR code (certificate number + SHA-256 of the content record) and three
signature boxes, which become the PDF signature fields ``Sig_performed``,
``Sig_reviewed`` and ``Sig_approved``. All text uses one embedded TrueType
font (WenQuanYi Micro Hei), so no viewer font is needed. A simulated run puts
"模拟数据 非有效证书 / SIMULATED — NOT A VALID CERTIFICATE" across every page.

The canonical content record (JSON) is embedded as the attachment
``certificate-content.json``; the PDF keywords carry its SHA-256.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import segno
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepInFrame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Spacer,
)

from lims.certificates.fonts import register_fonts
from lims.certificates.model import (
    CertificateDocument,
    CertificateType,
    DeviationKind,
    Meaning,
    Verdict,
)
from lims.certificates.numbers import quantity_text
from lims.certificates.render_parts import (
    Styles,
    budget_annex,
    grid,
    kv_table,
    label,
    para,
    result_section,
    standards_table,
)
from lims.units import display_unit

__all__ = [
    "CONTENT_ATTACHMENT",
    "DRAFT_TEXT",
    "KEYWORD_HASH",
    "KEYWORD_NUMBER",
    "QR_BOX",
    "SIGNATURE_FIELDS",
    "WATERMARK_TEXT",
    "SignatureBox",
    "format_quantity",
    "qr_payload",
    "render_pdf",
    "signature_boxes",
    "unit_text",
    "verification_address",
]

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
CONTENT_ATTACHMENT = "certificate-content.json"
KEYWORD_NUMBER = "certificate-number="
KEYWORD_HASH = "content-sha256="
WATERMARK_TEXT = ("模拟数据 非有效证书", "SIMULATED — NOT A VALID CERTIFICATE")
DRAFT_TEXT = ("草稿", "DRAFT — NOT ISSUED")
"""The mark across every page of a draft (before the first signature)."""

SIGNATURE_FIELDS: dict[Meaning, str] = {
    Meaning.PERFORMED: "Sig_performed",
    Meaning.REVIEWED: "Sig_reviewed",
    Meaning.APPROVED: "Sig_approved",
}
"""Name of the pre-created signature field for each meaning."""

_QR_SIZE = 30 * mm
QR_BOX = (PAGE_WIDTH - MARGIN - _QR_SIZE, PAGE_HEIGHT - MARGIN - 14 * mm - _QR_SIZE, _QR_SIZE)
"""Page-1 position of the QR code, in points: (x, y of the lower-left corner, size)."""

_SIG_TOP = MARGIN + 12 * mm + 34 * mm  # top of the signature area on page 1 (label row included)
_SIG_BOX_HEIGHT = 26 * mm
_SIG_GAP = 6 * mm


@dataclass(frozen=True)
class SignatureBox:
    """Where a signature field sits: page index (0-based) and rectangle (x1, y1, x2, y2) in pt."""

    meaning: Meaning
    field_name: str
    page: int
    rect: tuple[float, float, float, float]


def signature_boxes() -> tuple[SignatureBox, ...]:
    """The three signature boxes of page 1, in signing order."""
    width = (PAGE_WIDTH - 2 * MARGIN - 2 * _SIG_GAP) / 3
    y2 = _SIG_TOP - 6 * mm
    y1 = y2 - _SIG_BOX_HEIGHT
    boxes = []
    for i, meaning in enumerate(Meaning):
        x1 = MARGIN + i * (width + _SIG_GAP)
        boxes.append(SignatureBox(meaning, SIGNATURE_FIELDS[meaning], 0, (x1, y1, x1 + width, y2)))
    return tuple(boxes)


def qr_payload(number: str, content_hash: str, base_url: str | None = None) -> str:
    """The text in the QR code: the verification address ``<base_url>/v/<number>?h=<hash>``
    (:func:`verification_address`); without a base URL, number and content-record SHA-256."""
    if base_url:
        return verification_address(base_url, number, content_hash)
    return f"CARBON-LIMS-CERT\nNO:{number}\nSHA256:{content_hash}"


def verification_address(base_url: str, number: str, content_sha256: str) -> str:
    """The verification page of a certificate: what its QR code points at."""
    from urllib.parse import quote

    return f"{base_url.rstrip('/')}/v/{quote(number, safe='')}?h={content_sha256}"


def unit_text(q: Any) -> str:
    """Unit as printed on the certificate (µmol/mol, %FS, °C, L/min, m³/h ...).

    (The embedded font has no outline for U+2103 ℃, so degrees Celsius print as °C.)
    """
    return display_unit(q)


def format_quantity(q: Any, decimals: int | None = None) -> str:
    """``"1004 µmol/mol"``; with ``decimals``, written to that many places
    (:func:`lims.certificates.numbers.quantity_text`)."""
    return quantity_text(q, decimals)


def render_pdf(
    doc: CertificateDocument,
    *,
    generated_at: datetime | None = None,
    draft: bool = False,
    verification_base_url: str | None = None,
) -> bytes:
    """Render the certificate; returns PDF bytes with three empty signature fields.

    ``generated_at`` (UTC) is the PDF creation date; it is not part of the content record.
    ``draft`` puts "草稿 / DRAFT" across every page (the copy shown before anyone signs).
    With ``verification_base_url`` the QR code carries the certificate's verification
    address (:func:`qr_payload`).
    """
    font = register_fonts()
    content_hash = doc.content_hash()
    styles = Styles(font)
    buffer = io.BytesIO()
    frame_w = PAGE_WIDTH - 2 * MARGIN
    header_h = 24 * mm
    footer_h = 14 * mm
    first_frame = Frame(
        MARGIN,
        _SIG_TOP + 2 * mm,
        frame_w - _QR_SIZE - 4 * mm,
        PAGE_HEIGHT - MARGIN - header_h - _SIG_TOP - 2 * mm,
        id="first",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    later_frame = Frame(
        MARGIN,
        MARGIN + footer_h,
        frame_w,
        PAGE_HEIGHT - 2 * MARGIN - header_h - footer_h,
        id="later",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    template = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{doc.title.zh} {doc.title.en} {doc.number}",
        author=doc.laboratory.name.joined(),
        subject=f"{doc.certificate_type.record_value} {doc.number}",
        keywords=[f"{KEYWORD_NUMBER}{doc.number}", f"{KEYWORD_HASH}{content_hash}"],
        creator="carbon-lims",
        producer="carbon-lims (reportlab, pyHanko)",
        invariant=1,
        initialFontName=font,
    )
    template.addPageTemplates(
        [
            PageTemplate(id="first", frames=[first_frame]),
            PageTemplate(id="later", frames=[later_frame]),
        ]
    )
    story: list[Flowable] = [
        NextPageTemplate("later"),
        KeepInFrame(0, 0, _cover(doc, styles), mode="shrink"),
    ]
    story += _body(doc, styles, content_hash)
    qr = qr_payload(doc.number, content_hash, verification_base_url)
    canvas_class = _canvas_class(doc, content_hash, font, qr, draft)
    template.build(story, canvasmaker=canvas_class)
    return _add_fields_and_record(buffer.getvalue(), doc, generated_at)


def _performedlabel(doc: CertificateDocument) -> tuple[str, str]:
    if doc.certificate_type is CertificateType.CALIBRATION:
        return "校准日期", "Date(s) of calibration"
    return "检定日期", "Date(s) of verification"


def _cover(doc: CertificateDocument, styles: Styles) -> list[Flowable]:
    width = PAGE_WIDTH - 2 * MARGIN - _QR_SIZE - 4 * mm
    d = doc.dates
    story: list[Flowable] = [
        para(doc.title.zh, styles.title),
        para(doc.title.en, styles.subtitle),
    ]
    if doc.replaces is not None:
        story.append(
            para(
                f"修订版（第 {doc.revision} 版），替代证书 {doc.replaces.number}；"
                f"原因：{doc.replaces.reason}\n"
                f"Amendment (revision {doc.revision}) replacing certificate {doc.replaces.number}; "
                f"reason: {doc.replaces.reason}",
                styles.notice,
            )
        )
    perf = (
        d.performance_start.isoformat()
        if d.performance_start == d.performance_end
        else f"{d.performance_start.isoformat()} – {d.performance_end.isoformat()}"
    )
    item = doc.item
    rows: list[tuple[str, str]] = [
        (label("证书编号", "Certificate No."), doc.number),
        (label("委托单位", "Customer"), doc.customer.name),
        (label("委托单位地址", "Customer address"), doc.customer.address),
        (
            label("联系人", "Contact"),
            " ".join(
                x
                for x in (doc.customer.contact_person, doc.customer.phone, doc.customer.email)
                if x
            ),
        ),
        (label("器具名称", "Item"), item.description.joined()),
        (label("制造单位", "Manufacturer"), item.manufacturer),
        (label("型号规格", "Model"), item.model),
        (label("出厂编号", "Serial No."), item.serial_number),
        (label("资产/管理编号", "Asset tag"), item.asset_tag or "—"),
        (label("测量范围", "Measuring range"), item.measuring_range),
        (label("准确度等级", "Accuracy class"), item.accuracy_class or "—"),
        (label("收样状态", "Condition on receipt"), item.condition_on_receipt.joined()),
        (
            label("检定/校准依据", "Method"),
            f"{doc.method.regulation_number} {doc.method.title.zh}\n{doc.method.title.en}",
        ),
        (label("规程数据表版本", "Regulation table version"), doc.method.table_version),
        (label("结论", "Conclusion"), doc.conclusion.text.joined("\n")),
        (label("接收日期", "Date of receipt"), d.receipt.isoformat()),
        (label(*_performedlabel(doc)), perf),
        (
            label("签发日期", "Date of issue"),
            d.issue.isoformat()
            if d.issue is not None
            else "见批准人签名（UTC 日期）\nthe date of the approval signature (UTC)",
        ),
    ]
    if doc.certificate_type is CertificateType.VERIFICATION and d.valid_until is not None:
        rows.append((label("有效期至", "Valid until"), d.valid_until.isoformat()))
    rows += [
        (label("地点", "Location"), doc.location.place.joined()),
        (label("原始记录号", "Original record No."), doc.original_record),
        (
            label("实验室", "Laboratory"),
            f"{doc.laboratory.name.zh}\n{doc.laboratory.name.en}\n"
            f"{doc.laboratory.address.zh}\n{doc.laboratory.address.en}",
        ),
        (
            label("授权/认可证书号", "Accreditation No."),
            doc.laboratory.accreditation_number
            if doc.accredited
            else "不适用：有结果超出认可范围（见声明）\n"
            "not applicable: results outside the accreditation scope (see statements)",
        ),
    ]
    story.append(kv_table(rows, styles, width))
    return story


def _body(doc: CertificateDocument, styles: Styles, content_hash: str) -> list[Flowable]:
    width = PAGE_WIDTH - 2 * MARGIN
    story: list[Flowable] = [PageBreak()]
    if doc.simulated:
        story.append(
            para(
                "本证书数据来自模拟检定台，非有效证书。\n"
                "The data of this certificate come from a simulated bench: "
                "it is NOT a valid certificate.",
                styles.notice,
            )
        )
    if doc.method.table_has_unverified_values:
        story.append(
            para(
                f"注意：所用规程数据表（{doc.method.regulation_number}，"
                f"版本 {doc.method.table_version}）"
                "含尚未与官方文本核对的数值。\n"
                f"Note: the regulation table used ({doc.method.regulation_number}, version "
                f"{doc.method.table_version}) contains values not yet verified against the "
                "official text.",
                styles.notice,
            )
        )
    if doc.certificate_type is CertificateType.NON_CONFORMITY:
        story.append(para(label("不合格项目", "Failed items"), styles.h2))
        for s in doc.failed_sections:
            story.append(
                para(f"• {s.title.zh} / {s.title.en}: {s.verdict.text.joined()}", styles.base)
            )

    if doc.outside_scope is not None:
        story.append(para(doc.outside_scope.text.joined("\n"), styles.notice))
    story.append(
        para(label("计量标准及标准物质", "Standards and reference materials used"), styles.h2)
    )
    story.append(standards_table(doc, styles, width))
    story.append(
        para(
            "溯源性：所用计量标准和标准物质均经上表所列机构检定/校准/定值，溯源至国家计量基准。\n"
            "Traceability: the standards and reference materials above are verified, calibrated or "
            "certified by the bodies listed and are traceable to the national measurement "
            "standards.",
            styles.small,
        )
    )

    env = doc.environment
    story.append(para(label("环境条件", "Environmental conditions"), styles.h2))
    env_rows = [
        (label("温度", "Temperature"), format_quantity(env.temperature)),
        (label("相对湿度", "Relative humidity"), format_quantity(env.relative_humidity)),
    ]
    if env.pressure is not None:
        env_rows.append((label("大气压", "Atmospheric pressure"), format_quantity(env.pressure)))
    story.append(kv_table(env_rows, styles, width))

    story.append(para(label("判定规则", "Decision rule"), styles.h2))
    if doc.decision_rule is not None:
        story.append(
            para(
                f"[{doc.decision_rule.rule_id}] {doc.decision_rule.text.zh}\n"
                f"{doc.decision_rule.text.en}",
                styles.base,
            )
        )
    else:
        story.append(para("无符合性判定 / No conformity statement", styles.base))

    story.append(para(label("偏离与例外", "Deviations and overrides"), styles.h2))
    if doc.deviations:
        data = [
            [
                para(h, styles.cell)
                for h in (
                    label("类型", "Kind"),
                    label("内容", "Description"),
                    label("原因", "Reason"),
                    label("批准人", "By"),
                )
            ]
        ]
        for dev in doc.deviations:
            kind = "偏离 deviation" if dev.kind is DeviationKind.DEVIATION else "例外 override"
            when = f"\n{dev.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if dev.at else ""
            data.append(
                [
                    para(kind, styles.cell),
                    para(dev.description.joined("\n"), styles.cell),
                    para(dev.reason, styles.cell),
                    para(dev.by + when, styles.cell),
                ]
            )
        story.append(grid(data, [width * f for f in (0.14, 0.4, 0.28, 0.18)]))
    else:
        story.append(para("无 / None", styles.base))

    story.append(para(label("外部提供的结果", "Results from external providers"), styles.h2))
    story.append(para("; ".join(doc.external_providers) or "无 / None", styles.base))
    if doc.sampling:
        story.append(para(label("抽样", "Sampling"), styles.h2))
        story.append(para(doc.sampling, styles.base))

    results_title = (
        ("校准结果", "Calibration results")
        if doc.certificate_type is CertificateType.CALIBRATION
        else ("检定结果", "Verification results")
    )
    story.append(para(label(*results_title), styles.h2))
    for section in doc.sections:
        story += result_section(section, styles, width, doc.certificate_type)

    verdict = doc.conclusion.verdict
    closing: list[Flowable] = [
        para(label("结论", "Conclusion"), styles.h2),
        para(
            f"{doc.conclusion.text.zh}\n{doc.conclusion.text.en}"
            + ("" if verdict is Verdict.NO_STATEMENT else f"\n({verdict.text.joined()})"),
            styles.base,
        ),
        para(label("声明", "Statements"), styles.h2),
    ]
    closing += [para(f"• {zh}\n{en}", styles.small) for zh, en in _statements(doc)]
    closing.append(Spacer(1, 4))
    closing.append(
        para(f"内容记录 SHA-256 / Content record SHA-256:\n{content_hash}", styles.small)
    )
    story.append(KeepTogether(closing))
    story += budget_annex(doc, styles, width)
    story.append(para("—— 以下空白 / End of certificate ——", styles.end))
    return story


def _statements(doc: CertificateDocument) -> list[tuple[str, str]]:
    reg = doc.method.regulation_number
    items = [
        (
            "本证书的结果仅对所检定/校准的器具有效。",
            "The results relate only to the item verified or calibrated.",
        ),
        (
            "未经本实验室书面批准，不得部分复制本证书。",
            "This certificate shall not be reproduced except in full without the written "
            "approval of the laboratory.",
        ),
        (
            "扩展不确定度 U 由合成标准不确定度乘以包含因子 k 得到（JJF 1059.1）。",
            "The expanded uncertainty U is the combined standard uncertainty multiplied by the "
            "coverage factor k (JJF 1059.1 / GUM).",
        ),
    ]
    if doc.decision_rule is not None:
        items.append(
            (
                f"符合性判定覆盖上列全部结果，依据 {reg} 的要求，采用判定规则 "
                f"{doc.decision_rule.rule_id}。",
                f"The conformity statement covers all results listed, against the requirements "
                f"of {reg}, using decision rule {doc.decision_rule.rule_id}.",
            )
        )
    if doc.certificate_type is CertificateType.CALIBRATION:
        items.append(
            (
                "除非与客户约定，本证书不给出复校间隔建议。",
                "No recalibration interval is recommended unless agreed with the customer.",
            )
        )
    if doc.certificate_type is CertificateType.NON_CONFORMITY:
        items.append(
            (
                "该器具检定不合格，不得作为合格器具使用。",
                "The item failed verification and must not be used as conforming.",
            )
        )
    items.append(
        (
            "本证书以电子签名签署；签名与证书内容记录的 SHA-256 绑定，可离线验证。",
            "This certificate is signed electronically; the signatures bind the SHA-256 of its "
            "content record and can be verified offline.",
        )
    )
    if doc.outside_scope is not None:
        items.append((doc.outside_scope.text.zh, doc.outside_scope.text.en))
    if doc.budgets:
        items.append(
            (
                "应客户要求，附录给出各结果的不确定度评定。",
                "At the customer's request, the annex gives the uncertainty budget of the results.",
            )
        )
    return items


def _canvas_class(
    doc: CertificateDocument, content_hash: str, font: str, qr: str, draft: bool = False
) -> type[Canvas]:
    """A canvas that defers page decorations until the page count is known."""

    class _CertificateCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["initialFontName"] = font  # never reference a standard-14 font
            kwargs["initialFontSize"] = kwargs.get("initialFontSize") or 9
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab API
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                _decorate(self, doc, content_hash, font, self._pageNumber, total, qr)
                if draft:
                    _draw_mark(self, font, DRAFT_TEXT, "#1f4e9b", 80, 24, angle=-45)
                Canvas.showPage(self)
            Canvas.save(self)

    return _CertificateCanvas


def _decorate(
    c: Canvas,
    doc: CertificateDocument,
    content_hash: str,
    font: str,
    page: int,
    total: int,
    qr: str,
) -> None:
    c.saveState()
    top = PAGE_HEIGHT - MARGIN
    c.setFillColor(colors.black)
    c.setFont(font, 9)
    c.drawString(MARGIN, top - 4 * mm, doc.laboratory.name.zh)
    c.setFont(font, 7.5)
    c.drawString(MARGIN, top - 8 * mm, doc.laboratory.name.en)
    c.setFont(font, 9)
    right = PAGE_WIDTH - MARGIN
    c.drawRightString(right, top - 4 * mm, f"证书编号 / Certificate No.: {doc.number}")
    c.drawRightString(right, top - 8.5 * mm, f"第 {page} 页 共 {total} 页 / Page {page} of {total}")
    c.setStrokeColor(colors.HexColor("#444444"))
    c.setLineWidth(0.6)
    c.line(MARGIN, top - 11 * mm, right, top - 11 * mm)

    c.setFont(font, 6.5)
    c.setFillColor(colors.HexColor("#444444"))
    c.line(MARGIN, MARGIN + 9 * mm, right, MARGIN + 9 * mm)
    c.drawString(
        MARGIN,
        MARGIN + 5.5 * mm,
        "本证书结果仅对所检定/校准的器具有效；未经本实验室书面批准，不得部分复制本证书。",
    )
    c.drawString(
        MARGIN,
        MARGIN + 2.5 * mm,
        "The results relate only to the item verified/calibrated. Not to be reproduced except in "
        "full without the laboratory's written approval.",
    )
    c.drawRightString(right, MARGIN - 1 * mm, f"SHA-256 {content_hash[:16]}…")

    if page == 1:
        _draw_qr(c, qr)
        c.setFont(font, 6.5)
        c.setFillColor(colors.black)
        x, y, size = QR_BOX
        c.drawCentredString(x + size / 2, y - 3 * mm, "扫码核验 / Scan to verify")
        _draw_signature_boxes(c, doc, font)
        if doc.accredited:
            _draw_accreditation_mark(c, doc, font)
    if doc.simulated:
        _draw_watermark(c, font)
    c.restoreState()


def _draw_qr(c: Canvas, payload: str) -> None:
    qr = segno.make(payload, error="m", micro=False)
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix)
    x0, y0, size = QR_BOX
    module = size / (n + 8)  # 4-module quiet zone on each side
    c.setFillColor(colors.white)
    c.rect(x0, y0, size, size, stroke=0, fill=1)
    c.setFillColor(colors.black)
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                c.rect(
                    x0 + (col + 4) * module,
                    y0 + size - (r + 5) * module,
                    module,
                    module,
                    stroke=0,
                    fill=1,
                )


def _draw_signature_boxes(c: Canvas, doc: CertificateDocument, font: str) -> None:
    c.setStrokeColor(colors.HexColor("#444444"))
    c.setLineWidth(0.5)
    for box in signature_boxes():
        x1, y1, x2, y2 = box.rect
        role = box.meaning.role(doc.certificate_type)
        c.setFillColor(colors.black)
        c.setFont(font, 8.5)
        c.drawString(x1, y2 + 2 * mm, f"{role.zh} / {role.en}")
        c.rect(x1, y1, x2 - x1, y2 - y1, stroke=1, fill=0)
        assigned = doc.signatory(box.meaning)
        if assigned is not None:
            c.setFont(font, 6.5)
            c.setFillColor(colors.HexColor("#555555"))
            c.drawString(x1, y1 - 3 * mm, f"指定 / Assigned: {assigned.name}")


def _draw_watermark(c: Canvas, font: str) -> None:
    _draw_mark(c, font, WATERMARK_TEXT, "#c62828", 46, 26)


def _draw_mark(
    c: Canvas,
    font: str,
    text: tuple[str, str],
    color: str,
    big: float,
    small: float,
    angle: float = 45,
) -> None:
    """Two lines of translucent text across the page: simulated data on one diagonal, the
    draft mark on the other."""
    c.saveState()
    c.setFillColor(colors.HexColor(color))
    c.setFillAlpha(0.22)
    c.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
    c.rotate(angle)
    c.setFont(font, big)
    c.drawCentredString(0, big * 0.3, text[0])
    c.setFont(font, small)
    c.drawCentredString(0, -big * 0.3 - small, text[1])
    c.restoreState()


def _draw_accreditation_mark(c: Canvas, doc: CertificateDocument, font: str) -> None:
    """The accreditation mark with the lab's number, below the QR code (page 1), only when
    every result lies inside the released accreditation scope."""
    x, y, size = QR_BOX
    top = y - 7 * mm
    c.saveState()
    c.setStrokeColor(colors.HexColor("#1f4e9b"))
    c.setFillColor(colors.HexColor("#1f4e9b"))
    c.setLineWidth(0.8)
    c.roundRect(x, top - 12 * mm, size, 12 * mm, 1.5 * mm, stroke=1, fill=0)
    c.setFont(font, 7.5)
    c.drawCentredString(x + size / 2, top - 4.5 * mm, "认可 ACCREDITED")
    c.setFont(font, 7)
    c.drawCentredString(x + size / 2, top - 9 * mm, doc.laboratory.accreditation_number)
    c.restoreState()


def _add_fields_and_record(
    pdf: bytes, doc: CertificateDocument, generated_at: datetime | None
) -> bytes:
    """Add the three signature fields and embed the content record (one incremental update)."""
    from pyhanko.pdf_utils import embed, generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for box in signature_boxes():
        append_signature_field(
            writer,
            SigFieldSpec(
                sig_field_name=box.field_name,
                on_page=box.page,
                box=(
                    round(box.rect[0]),
                    round(box.rect[1]),
                    round(box.rect[2]),
                    round(box.rect[3]),
                ),
            ),
        )
    when = generated_at or datetime.now(UTC)
    data = doc.content_json()
    embedded = embed.EmbeddedFileObject.from_file_data(
        writer,
        data=data,
        mime_type="application/json",
        params=embed.EmbeddedFileParams(creation_date=when, modification_date=when),
    )
    spec = embed.FileSpec(
        file_spec_string=CONTENT_ATTACHMENT,
        file_name=CONTENT_ATTACHMENT,
        embedded_data=embedded,
        description="Canonical content record of the certificate (SHA-256 bound by signatures)",
        af_relationship=generic.NameObject("/Data"),
    )
    embed.embed_file(writer, spec)
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()
