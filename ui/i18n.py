"""The bilingual string table: Chinese first with English beside it, or one language alone.

Every user-facing text of the application is looked up here by key with :func:`tr`.
Widgets rebuild their texts in ``retranslate()`` when the language changes.
"""

from __future__ import annotations

from enum import StrEnum


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


def tr(key: str) -> str:
    """The text of ``key`` in the application's current language."""
    return translator.text(key)


def set_language(lang: Lang) -> None:
    """Switch the application's language (widgets then call their ``retranslate``)."""
    translator.lang = lang
