"""The bilingual string table: Chinese first with English beside it, or one language alone.

Every user-facing text of the application is looked up here by key with :func:`tr`,
through Qt's translation system: a :class:`TableTranslator` installed in the Qt
application answers ``QCoreApplication.translate("lims", key)`` from the table, and
Qt's own catalogue (``qtbase_zh_CN.qm``, shipped with Qt) translates the texts Qt draws
itself (standard buttons, context menus, the print preview) while Chinese is shown.
Widgets rebuild their texts in ``retranslate()`` when the language changes.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QTranslator

#: The translation context of the application's own texts.
CONTEXT = "lims"


class Lang(StrEnum):
    """How texts are shown."""

    BILINGUAL = "bi"  # 中文 English (the default)
    ZH = "zh"
    EN = "en"


#: key -> (Chinese, English)
STRINGS: dict[str, tuple[str, str]] = {
    "app.title": ("碳计量校准实验室信息管理系统", "Carbon Calibration LIMS"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.button": ("登录", "Log in"),
    "login.cancel": ("退出", "Quit"),
    "login.empty": ("请输入用户名和密码", "Enter the user name and the password"),
    "login.busy": ("正在验证…", "Checking…"),
    "menu.user": ("用户", "User"),
    "menu.logout": ("退出登录", "Log out"),
    "menu.passwd": ("修改密码", "Change password"),
    "menu.language": ("语言", "Language"),
    "lang.bi": ("中文 + 英文", "Chinese + English"),
    "lang.zh": ("中文", "Chinese"),
    "lang.en": ("英文", "English"),
    "passwd.title": ("修改密码", "Change password"),
    "passwd.old": ("当前密码", "Current password"),
    "passwd.new": ("新密码", "New password"),
    "passwd.confirm": ("确认新密码", "Confirm new password"),
    "passwd.mismatch": ("两次输入的新密码不一致", "The new passwords do not match"),
    "passwd.done": ("密码已修改", "Password changed"),
    "common.ok": ("确定", "OK"),
    "common.cancel": ("取消", "Cancel"),
    "common.refresh": ("刷新", "Refresh"),
    "common.loading": ("正在加载…", "Loading…"),
    "common.reason": ("原因", "Reason"),
    "common.reason_required": ("必须填写原因", "A reason is required"),
    "status.logged_in": ("当前用户", "Signed in as"),
    "tab.standards": ("计量标准与标准物质", "Standards and reference materials"),
    "tab.work_orders": ("委托单", "Work orders"),
    "std.standards": ("计量标准", "Measurement standards"),
    "std.materials": ("标准物质库存", "Reference-material stock"),
    "std.col.tag": ("编号", "Tag"),
    "std.col.name": ("名称", "Name"),
    "std.col.status": ("状态", "Status"),
    "std.col.due_cert": ("证书有效期至", "Certificate valid until"),
    "std.col.due_check": ("下次期间核查", "Next intermediate check"),
    "std.col.days": ("剩余天数", "Days left"),
    "std.history": ("证书历史", "Certificate history"),
    "std.col.number": ("证书编号", "Certificate no."),
    "std.col.issuer": ("发证机构", "Issuer"),
    "std.col.calibrated": ("校准日期", "Calibrated on"),
    "std.col.valid": ("有效期至", "Valid until"),
    "std.col.revision": ("版本", "Revision"),
    "std.chart": ("期间核查控制图", "Intermediate-check control chart"),
    "std.chart.none": ("控制图至少需要2次期间核查", "A control chart needs at least 2 checks"),
    "std.out": ("停用…", "Take out of service…"),
    "std.back": ("恢复使用…", "Return to service…"),
    "std.out.title": ("停用计量标准", "Take the standard out of service"),
    "std.back.title": ("恢复使用计量标准", "Return the standard to service"),
    "std.select": ("请先选择一个计量标准", "Select a standard first"),
    "std.changed": ("状态已更改", "Status changed"),
    "rm.col.gbw": ("标准物质编号", "GBW number"),
    "rm.col.value": ("标准值 ± U", "Certified value ± U"),
    "rm.col.lot": ("批号/瓶号", "Lot / cylinder"),
    "rm.col.remaining": ("剩余量", "Remaining"),
    "rm.col.expires": ("有效期至", "Expires on"),
    "status.active": ("在用", "in service"),
    "status.out_of_service": ("停用", "out of service"),
    "status.retired": ("报废", "retired"),
    "status.in_stock": ("库存", "in stock"),
    "status.in_use": ("使用中", "in use"),
    "status.received": ("已收样", "received"),
    "status.in_progress": ("进行中", "in progress"),
    "status.measured": ("已测量", "measured"),
    "status.certified": ("已出证", "certified"),
    "status.returned": ("已返还", "returned"),
    "status.completed": ("已完成", "completed"),
    "status.delivered": ("已交付", "delivered"),
    "status.cancelled": ("已取消", "cancelled"),
    "service.verification": ("检定", "verification"),
    "service.calibration": ("校准", "calibration"),
    "wo.receive": ("收样登记", "Receive instruments"),
    "wo.board": ("状态看板", "Status board"),
    "wo.customer": ("委托方", "Customer"),
    "wo.contact": ("联系人", "Contact"),
    "wo.phone": ("电话", "Phone"),
    "wo.received_on": ("收样日期", "Received on"),
    "wo.due_on": ("要求完成日期", "Due on"),
    "wo.notes": ("备注", "Notes"),
    "wo.instrument": ("仪器", "Instrument"),
    "wo.kind": ("仪器类别", "Kind"),
    "wo.description": ("名称", "Description"),
    "wo.manufacturer": ("制造商", "Manufacturer"),
    "wo.model": ("型号", "Model"),
    "wo.serial": ("出厂编号", "Serial number"),
    "wo.range_min": ("测量范围下限", "Range minimum"),
    "wo.range_max": ("测量范围上限", "Range maximum"),
    "wo.accuracy": ("准确度等级", "Accuracy"),
    "wo.service": ("服务类型", "Service"),
    "wo.procedure": ("规程", "Procedure"),
    "wo.condition": ("收样状态", "Condition on receipt"),
    "wo.add_item": ("添加仪器", "Add instrument"),
    "wo.remove_item": ("移除所选", "Remove selected"),
    "wo.save": ("登记委托单", "Register work order"),
    "wo.print": ("预览/打印收样单", "Preview / print receipt"),
    "wo.pending": ("待登记仪器", "Instruments to register"),
    "wo.saved": ("已登记委托单", "Registered work order"),
    "wo.fix": (
        "请更正标红的字段，未保存任何内容",
        "Correct the fields marked red; nothing was saved",
    ),
    "wo.col.number": ("委托单号", "Work order"),
    "wo.col.items": ("仪器", "Instruments"),
    "wo.date_format": ("日期格式为 YYYY-MM-DD", "dates are written YYYY-MM-DD"),
    "tab.bench": ("检定台", "Bench"),
    "bench.item": ("委托仪器", "Work-order item"),
    "bench.bench": ("检定台配置", "Bench"),
    "bench.auto": ("模拟台自动应答", "Auto-answer (simulated)"),
    "bench.preflight": ("运行前检查", "Preflight"),
    "bench.start": ("开始", "Start"),
    "bench.pause": ("暂停", "Pause"),
    "bench.resume": ("继续", "Resume"),
    "bench.abort": ("中止", "Abort"),
    "bench.checklist": ("运行前检查清单", "Preflight checklist"),
    "bench.steps": ("步骤", "Steps"),
    "bench.results": ("结果", "Results"),
    "bench.readings": ("实时读数", "Live readings"),
    "bench.band": ("稳定带", "stability band"),
    "bench.prompt": ("操作员提示", "Operator prompt"),
    "bench.value_required": ("请输入数值和单位", "Enter a value with its unit"),
    "bench.choose": ("请选择委托仪器和检定台", "Choose a work-order item and a bench"),
    "bench.not_ready": ("运行前检查未通过", "The preflight checks have not all passed"),
    "bench.recovery": ("中断的运行", "Interrupted runs"),
    "bench.recovery_text": (
        "发现未完成的运行，可从最后完成的步骤继续",
        "A run did not finish: it can continue after its last completed step",
    ),
    "bench.recover": ("恢复运行", "Resume the run"),
    "bench.later": ("稍后", "Later"),
    "bench.resuming": ("继续运行", "resuming run"),
    "bench.col.point": ("检测点", "Test point"),
    "bench.col.item": ("项目", "Item"),
    "bench.col.values": ("数值", "Values"),
    "bench.col.verdict": ("结论", "Verdict"),
    "tab.regulation": ("规程表", "Regulation tables"),
    "tab.review": ("审核签发", "Review and approval"),
    "tab.history": ("证书查询", "Certificate history"),
    "cert.col.number": ("证书编号", "Certificate no."),
    "cert.col.type": ("类型", "Type"),
    "cert.col.customer": ("委托方", "Customer"),
    "cert.col.instrument": ("仪器", "Instrument"),
    "cert.col.serial": ("出厂编号", "Serial no."),
    "cert.col.status": ("状态", "Status"),
    "cert.col.waits": ("待签", "Waits for"),
    "cert.col.date": ("日期", "Date"),
    "cert.col.valid": ("有效期至", "Valid until"),
    "cert.col.verdict": ("结论", "Conclusion"),
    "cert.col.meaning": ("签名含义", "Meaning"),
    "cert.col.signer": ("签名人", "Signed by"),
    "cert.col.signed_at": ("签名时间 (UTC)", "Signed at (UTC)"),
    "cert.col.when": ("时间 (UTC)", "When (UTC)"),
    "cert.col.actor": ("操作人", "By"),
    "cert.col.action": ("操作", "Action"),
    "cert.col.record": ("记录", "Record"),
    "cert.col.changes": ("变更", "Changes"),
    "cert.col.reason": ("原因", "Reason"),
    "cert.status.draft": ("草稿", "draft"),
    "cert.status.performed": ("已签检定员", "performed"),
    "cert.status.reviewed": ("已核验", "reviewed"),
    "cert.status.issued": ("已签发", "issued"),
    "cert.status.rejected": ("已退回", "rejected"),
    "cert.status.superseded": ("已被替代", "superseded"),
    "cert.status.revoked": ("已撤销", "revoked"),
    "cert.type.verification_certificate": ("检定证书", "verification certificate"),
    "cert.type.nonconformity_notice": ("检定结果通知书", "verification result notice"),
    "cert.type.calibration_certificate": ("校准证书", "calibration certificate"),
    "meaning.performed": ("检定员", "performed"),
    "meaning.reviewed": ("核验员", "reviewed"),
    "meaning.approved": ("批准人", "approved"),
    "meaning.performed.text": (
        "我执行了本次检定/校准，记录与结果如实反映测量",
        "I carried out this work; the records and results are as measured",
    ),
    "meaning.reviewed.text": (
        "我已核验原始记录、计算和结果",
        "I have checked the original records, the calculations and the results",
    ),
    "meaning.approved.text": (
        "我批准签发本证书",
        "I authorize the issue of this certificate",
    ),
    "review.mine": ("只显示待我签署的", "Only those waiting for me"),
    "review.sign": ("签名…", "Sign…"),
    "review.reject": ("退回…", "Reject…"),
    "review.reject.title": ("退回证书草稿", "Reject the draft"),
    "review.rejected": ("已退回", "Rejected"),
    "review.signed": ("已签名", "Signed"),
    "review.select": ("请先选择一份证书", "Select a certificate first"),
    "review.cannot_sign": ("您不能签署此证书", "You cannot sign this certificate"),
    "review.signatures": ("签名", "Signatures"),
    "review.preview": ("证书预览", "Certificate preview"),
    "review.empty": ("没有待签署的证书", "No certificate is waiting"),
    "sign.title": ("电子签名", "Electronic signature"),
    "sign.certificate": ("证书", "Certificate"),
    "sign.signer": ("签名人", "Signer"),
    "sign.meaning": ("签名含义", "Meaning of the signature"),
    "sign.password": ("请再次输入密码", "Enter your password again"),
    "sign.password_required": ("签名须输入密码", "Signing needs your password"),
    "sign.button": ("签名", "Sign"),
    "sign.busy": ("正在签名…", "Signing…"),
    "history.number": ("证书编号", "Certificate no."),
    "history.customer": ("委托方", "Customer"),
    "history.serial": ("出厂编号", "Serial no."),
    "history.from": ("起始日期", "From"),
    "history.to": ("截止日期", "To"),
    "history.status": ("状态", "Status"),
    "history.any": ("全部", "any"),
    "history.search": ("查询", "Search"),
    "history.found": ("找到证书", "certificates found"),
    "history.open_pdf": ("打开PDF", "Open the PDF"),
    "history.verify": ("验证证书", "Verify"),
    "history.verify_file": ("验证文件…", "Verify a file…"),
    "history.chain": ("替代关系", "Supersession chain"),
    "history.trail": ("审计追踪", "Audit trail"),
    "history.no_audit": ("无权查看审计追踪", "You may not review the audit trail"),
    "history.bad_date": ("日期格式为 YYYY-MM-DD", "dates are written YYYY-MM-DD"),
    "history.verified_ok": ("验证通过", "Verified"),
    "history.verified_bad": ("验证未通过", "Verification failed"),
    "history.simulated": ("模拟", "simulated"),
    "bench.draft": ("起草证书", "Draft certificate"),
    "bench.drafted": ("已起草证书", "Certificate drafted"),
    "reg.release": ("发布…", "Release…"),
    "reg.release.title": ("发布规程表", "Release the regulation table"),
    "reg.released": ("规程表已发布", "Regulation table released"),
    "reg.values": ("规程表数值", "Values"),
    "reg.compare": ("版本比较", "Compare versions"),
    "reg.compare_button": ("比较", "Compare"),
    "reg.old": ("旧版本", "Old version"),
    "reg.new": ("新版本", "New version"),
    "reg.select": ("请先选择一个规程表版本", "Select a table version first"),
    "reg.unverified": ("未核实", "unverified"),
    "reg.unverified_left": ("未核实数值", "Unverified values"),
    "reg.no_difference": ("两个版本的数值相同", "The two versions hold the same values"),
    "reg.differ": ("处不同", "differences"),
    "reg.stored": ("数据库", "database"),
    "reg.shipped": ("随软件发布", "shipped"),
    "reg.col.version": ("版本", "Version"),
    "reg.col.unverified": ("未核实数", "Unverified"),
    "reg.col.where": ("来源", "Held in"),
    "reg.col.released": ("发布人", "Released by"),
    "reg.col.key": ("项目", "Key"),
    "reg.col.value": ("数值", "Value"),
    "reg.col.mark": ("核实", "Checked"),
    "reg.col.note": ("说明", "Note"),
    "reg.col.change": ("变化", "Change"),
    "reg.change.added": ("新增", "added"),
    "reg.change.removed": ("删除", "removed"),
    "reg.change.changed": ("数值改变", "value changed"),
    "reg.change.verification": ("核实状态改变", "verification changed"),
    "reg.status.draft": ("草稿", "draft"),
    "reg.status.released": ("已发布", "released"),
    "reg.status.withdrawn": ("已撤销", "withdrawn"),
}


class Translator:
    """The current language and the lookup of texts."""

    def __init__(self, lang: Lang = Lang.BILINGUAL) -> None:
        self.lang = lang

    def text(self, key: str) -> str:
        """The text of ``key`` in the current language (KeyError for an unknown key)."""
        zh, en = STRINGS[key]
        if self.lang is Lang.ZH:
            return zh
        if self.lang is Lang.EN:
            return en
        return f"{zh} {en}"


translator = Translator()


class TableTranslator(QTranslator):
    """A Qt translator answering the ``lims`` context from :data:`STRINGS`."""

    def translate(  # type: ignore[override]
        self, context: str, source: str, disambiguation: str | None = None, n: int = -1
    ) -> str | None:
        """The text of key ``source`` in the current language; ``None`` for other contexts."""
        if context != CONTEXT or source not in STRINGS:
            return None
        return translator.text(source)

    def isEmpty(self) -> bool:  # noqa: N802 (Qt override)
        """Never empty: it holds the whole table."""
        return False


class _Installed:
    """The translators installed in the running Qt application."""

    table: TableTranslator | None = None
    qt_chinese: QTranslator | None = None
    app: QCoreApplication | None = None


def _install(lang: Lang) -> None:
    """Install the table translator, and Qt's Chinese catalogue unless English alone."""
    app = QCoreApplication.instance()
    if app is None:
        return
    if _Installed.app is not app:  # a new application (tests create several in turn)
        _Installed.table, _Installed.qt_chinese, _Installed.app = None, None, app
    if _Installed.table is None:
        _Installed.table = TableTranslator(app)
        app.installTranslator(_Installed.table)
    if lang is Lang.EN:
        if _Installed.qt_chinese is not None:
            app.removeTranslator(_Installed.qt_chinese)
            _Installed.qt_chinese = None
        return
    if _Installed.qt_chinese is None:
        catalogue = QTranslator(app)
        path = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
        if catalogue.load("qtbase_zh_CN", path):
            app.installTranslator(catalogue)
            _Installed.qt_chinese = catalogue


def tr(key: str) -> str:
    """The text of ``key`` in the application's current language (KeyError if unknown)."""
    if key not in STRINGS:
        raise KeyError(key)
    if _Installed.table is not None and _Installed.app is QCoreApplication.instance():
        return QCoreApplication.translate(CONTEXT, key)
    return translator.text(key)


def set_language(lang: Lang) -> None:
    """Switch the application's language (widgets then call their ``retranslate``)."""
    translator.lang = lang
    _install(lang)
