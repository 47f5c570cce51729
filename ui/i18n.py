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
    # roles and permissions (tooltips of what a role may not use)
    "role.technician": ("检定员", "technician"),
    "role.reviewer": ("核验员", "reviewer"),
    "role.approver": ("批准人", "approver"),
    "role.quality_manager": ("质量负责人", "quality manager"),
    "role.administrator": ("系统管理员", "administrator"),
    "role.auditor": ("审计员", "auditor"),
    "role.none": ("无角色", "no role"),
    "perm.view_records": ("查看记录", "view records"),
    "perm.review_audit": ("审阅审计追踪", "review the audit trail"),
    "perm.view_security": ("查看安全记录", "view security records"),
    "perm.manage_users": ("管理用户", "manage users"),
    "perm.manage_authorizations": ("管理授权", "manage authorizations"),
    "perm.run_procedure": ("执行检定/校准", "run procedures"),
    "perm.sign_performed": ("检定员签名", "sign as performer"),
    "perm.sign_reviewed": ("核验签名", "sign as reviewer"),
    "perm.sign_approved": ("批准签名", "sign as approver"),
    "perm.manage_standards": ("管理计量标准", "manage standards"),
    "perm.record_intermediate_check": ("记录期间核查", "record intermediate checks"),
    "perm.manage_reference_materials": ("管理标准物质", "manage reference materials"),
    "perm.release_regulation_table": ("发布规程表", "release regulation tables"),
    "perm.use_reference_materials": ("使用标准物质", "use reference materials"),
    "perm.record_finding": ("记录超差与影响评估", "record findings and impact assessments"),
    "perm.record_proficiency": ("记录能力验证", "record proficiency tests"),
    "perm.report_incident": ("报告事件", "report incidents"),
    "perm.close_incident": ("关闭事件", "close incidents"),
    "perm.backup": ("备份", "back up"),
    "access.needs": ("需要权限", "Needs the permission to"),
    "access.your_roles": ("您的角色", "your roles"),
    "access.account": ("账户已锁定、停用或过期", "The account is locked, deactivated or expired"),
    "access.signed_out": ("未登录", "Not signed in"),
    "tab.audit": ("审计追踪", "Audit trail"),
    "tab.quality": ("质量管理", "Quality"),
    "tab.users": ("用户与授权", "Users and authorizations"),
    "menu.view": ("视图", "View"),
    "audit.user": ("操作人", "User"),
    "audit.from": ("起始日期", "From"),
    "audit.to": ("截止日期（含）", "To (inclusive)"),
    "audit.table": ("数据表", "Table"),
    "audit.record": ("记录", "Record"),
    "audit.record_hint": ("证书编号、编号或 表:ID", "certificate no., tag or TABLE:ID"),
    "audit.csv": ("导出CSV…", "Export CSV…"),
    "audit.verify": ("验证审计链与锚点", "Verify chain and anchors"),
    "audit.verifying": ("正在验证…", "Verifying…"),
    "audit.found": ("条审计事件", "audit events"),
    "audit.truncated": (
        "仅显示前5000条，请缩小范围",
        "only the first 5000 are shown: narrow the filters",
    ),
    "audit.col.table": ("数据表", "Table"),
    "audit.checked": ("已检查", "Checked"),
    "audit.events": ("条事件", "events"),
    "audit.records": ("条记录", "records"),
    "audit.readings": ("个读数", "readings"),
    "audit.anchors": ("个锚点", "anchors"),
    "audit.intact": ("审计追踪完整", "Audit trail intact"),
    "audit.tampered": ("被篡改", "TAMPERED"),
    "audit.table.audit_events": ("审计事件", "audit events"),
    "audit.table.authorizations": ("授权", "authorizations"),
    "audit.table.certificate_sequences": ("证书编号序列", "certificate numbering"),
    "audit.table.certificates": ("证书", "certificates"),
    "audit.table.contacts": ("联系人", "contacts"),
    "audit.table.customers": ("委托方", "customers"),
    "audit.table.equipment": ("设备", "equipment"),
    "audit.table.external_certificates": ("外部校准证书", "external certificates"),
    "audit.table.impact_assessments": ("影响评估", "impact assessments"),
    "audit.table.incidents": ("事件", "incidents"),
    "audit.table.intermediate_checks": ("期间核查", "intermediate checks"),
    "audit.table.lab_authorities": ("实验室CA", "lab CA"),
    "audit.table.lab_profile": ("实验室信息", "lab profile"),
    "audit.table.measurement_standards": ("计量标准", "measurement standards"),
    "audit.table.procedure_versions": ("规程版本", "procedure versions"),
    "audit.table.procedures": ("规程", "procedures"),
    "audit.table.proficiency_tests": ("能力验证", "proficiency tests"),
    "audit.table.readings": ("读数", "readings"),
    "audit.table.reference_material_events": ("标准物质记录", "reference-material events"),
    "audit.table.reference_materials": ("标准物质", "reference materials"),
    "audit.table.regulation_tables": ("规程表", "regulation tables"),
    "audit.table.results": ("结果", "results"),
    "audit.table.rule_overrides": ("规则豁免", "rule overrides"),
    "audit.table.run_resources": ("运行所用标准", "run resources"),
    "audit.table.runs": ("运行", "runs"),
    "audit.table.signatures": ("签名", "signatures"),
    "audit.table.signing_credentials": ("签名密钥", "signing keys"),
    "audit.table.standard_members": ("标准组成设备", "standard members"),
    "audit.table.stored_files": ("存档文件", "stored files"),
    "audit.table.user_roles": ("用户角色", "user roles"),
    "audit.table.users": ("用户", "users"),
    "audit.table.work_order_items": ("委托仪器", "work-order items"),
    "audit.table.work_orders": ("委托单", "work orders"),
    "audit.table.database": ("数据库", "database"),
    "audit.action.create": ("新建", "created"),
    "audit.action.update": ("修改", "changed"),
    "audit.action.delete": ("删除", "deleted"),
    "audit.action.restore": ("恢复", "restored"),
    "audit.action.append": ("追加", "appended"),
    "audit.action.backup": ("备份", "backed up"),
    "audit.action.login_failed": ("登录失败", "login failed"),
    "audit.action.login_refused": ("拒绝登录", "login refused"),
    "audit.action.certificate.sign_refused": ("拒绝签名", "signature refused"),
    "form.optional": ("可选", "optional"),
    "form.required": ("必填", "Required"),
    "users.accounts": ("账户", "Accounts"),
    "users.authorizations": ("授权", "Authorizations"),
    "users.add": ("新建账户…", "Add account…"),
    "users.deactivate": ("停用账户…", "Deactivate…"),
    "users.unlock": ("解锁账户…", "Unlock…"),
    "users.grant": ("授权…", "Grant authorization…"),
    "users.withdraw": ("撤销授权…", "Withdraw authorization…"),
    "users.name": ("姓名", "Name"),
    "users.name_zh": ("姓名（签名用）", "Printed name"),
    "users.name_en": ("英文姓名", "Name in English"),
    "users.roles": ("角色", "Roles"),
    "users.failures": ("登录失败次数", "Failed logins"),
    "users.password_changed": ("密码修改日期", "Password changed"),
    "users.valid_until": ("账户有效期至", "Account valid until"),
    "users.locked": ("已锁定", "locked"),
    "users.active": ("在用", "active"),
    "users.deactivated": ("已停用", "deactivated"),
    "users.competence": ("上岗证书号", "Competence certificate"),
    "users.from": ("生效日期", "Valid from"),
    "users.until": ("有效期至", "Valid until"),
    "users.withdrawn": ("已撤销", "withdrawn"),
    "users.valid": ("有效", "valid"),
    "users.not_valid": ("不在有效期内", "not valid today"),
    "users.select": ("请先选择一行", "Select a row first"),
    "users.saved": ("已保存", "Saved"),
    "impact.title": ("影响评估", "Impact assessments"),
    "impact.affected": ("受影响的运行和证书", "Affected runs and certificates"),
    "impact.dispose": ("处置…", "Disposition…"),
    "impact.close": ("关闭影响评估…", "Close the assessment…"),
    "impact.col.resource": ("标准/标准物质", "Standard / material"),
    "impact.col.found": ("发现日期", "Found on"),
    "impact.col.certificates": ("证书数", "Certificates"),
    "impact.col.undecided": ("待处置", "Undecided"),
    "impact.col.via": ("溯源路径", "Via"),
    "impact.col.disposition": ("处置", "Disposition"),
    "impact.col.notified": ("通知客户", "Customer notified"),
    "impact.status.open": ("未关闭", "open"),
    "impact.status.closed": ("已关闭", "closed"),
    "impact.select": ("请先选择一项影响评估", "Select an impact assessment first"),
    "impact.select_certificate": (
        "请先选择一份受影响的证书",
        "Select an affected certificate first",
    ),
    "impact.whole_history": ("全部历史", "whole history"),
    "impact.since": ("追溯自", "traced from"),
    "impact.conclusion": ("结论", "Conclusion"),
    "impact.runs": ("受影响的运行", "Affected runs"),
    "impact.notified_on": ("通知客户日期", "Customer notified on"),
    "impact.notification": ("通知方式与记录", "How the customer was notified"),
    "impact.disposition.no_effect": ("无影响", "no effect"),
    "impact.disposition.amend": ("更正换发", "amend"),
    "impact.disposition.revoke": ("撤销", "revoke"),
    "impact.disposition.retest": ("重新检定/校准", "measure again"),
    "override.title": ("规则豁免", "Rule overrides"),
    "override.button": ("豁免…", "Override…"),
    "override.intro": (
        "运行前检查未通过而被拒绝的运行。质量负责人可书面说明原因并输入密码后豁免一项规则，豁免记入审计追踪并印在证书上。",
        "Runs refused by a failed check. A quality manager may override one rule with a "
        "written reason and the password entered again; the override is audited and printed "
        "on the certificate.",
    ),
    "override.meaning": (
        "我以质量负责人身份批准本次运行豁免该规则",
        "As quality manager I allow this run despite the failed rule",
    ),
    "override.rule": ("规则", "Rule"),
    "override.select": ("请先选择一个被拒绝的运行", "Select a refused run first"),
    "override.col.run": ("运行", "Run"),
    "override.col.failures": ("未通过的规则", "Failed rules"),
    "incident.close": ("关闭事件…", "Close the incident…"),
    "incident.select": ("请先选择一个事件", "Select an incident first"),
    "incident.category": ("类别", "Category"),
    "incident.title": ("标题", "Title"),
    "incident.description": ("描述", "Description"),
    "incident.cat.system_failure": ("系统故障", "system failure"),
    "incident.cat.equipment_failure": ("设备故障", "equipment failure"),
    "incident.cat.data_integrity": ("数据完整性", "data integrity"),
    "incident.cat.security": ("信息安全", "security"),
    "incident.cat.nonconformity": ("不符合", "nonconformity"),
    "incident.cat.other": ("其他", "other"),
    "kind.gas_analyzer": ("气体分析仪", "gas analyzer"),
    "kind.gas_flowmeter": ("气体流量计", "gas flowmeter"),
    "kind.ac_charging_pile": ("交流充电桩", "AC charging pile"),
    "kind.dc_charger": ("直流充电机", "DC charger"),
    "kind.elemental_analyzer": ("元素分析仪", "elemental analyzer"),
    "common.yes": ("是", "Yes"),
    "common.no": ("否", "No"),
    "bench.reading_no": ("读数序号", "reading no."),
    "bench.last_step": ("最后完成的步骤", "last completed step"),
    "bench.answer": ("提交", "Answer"),
    "bench.confirm_done": ("已完成，继续", "Done, continue"),
    "bench.value_with_unit": ("数值和单位", "value with unit"),
    "bench.abort.title": ("中止运行", "Abort the run"),
    "bench.abort.text": (
        "确定中止本次运行吗？已采集的读数会保留，但运行不能再继续。",
        "Abort this run? The readings taken are kept, but the run cannot continue.",
    ),
    "bench.leave.title": ("运行进行中", "A run is going"),
    "bench.leave.text": (
        "运行将暂停（不会中止），下次登录时可从最后完成的步骤继续。现在暂停并关闭吗？",
        "The run will be paused (not aborted) and can continue from its last completed step "
        "at the next login. Pause and close now?",
    ),
    "run.status.queued": ("排队中", "queued"),
    "run.status.running": ("运行中", "running"),
    "run.status.paused": ("已暂停", "paused"),
    "run.status.completed": ("已完成", "completed"),
    "run.status.aborted": ("已中止", "aborted"),
    "run.status.failed": ("失败", "failed"),
    "run.status.refused": ("被拒绝", "refused"),
    "verdict.pass": ("合格", "pass"),
    "verdict.fail": ("不合格", "fail"),
    "verdict.undetermined": ("无法判定", "undetermined"),
    "verdict.conditional_pass": ("有条件合格", "conditional pass"),
    "verdict.conditional_fail": ("有条件不合格", "conditional fail"),
    "verdict.not_stated": ("不作符合性判定", "no conformity statement"),
    "results.point": ("检测点", "Point"),
    "results.reference": ("标准值", "Reference"),
    "results.indication": ("示值", "Indication"),
    "results.error": ("误差", "Error"),
    "results.limit": ("允许误差", "Limit"),
    "results.uncertainty": ("U (k)", "U (k)"),
    "results.overall": ("总结论", "Overall verdict"),
    # home
    "tab.home": ("首页", "Home"),
    "home.title": ("待办事项", "What waits for you"),
    "home.refresh": ("刷新", "Refresh"),
    "home.updated": ("更新于", "updated at"),
    "home.nothing": ("没有待办事项", "Nothing waits for you"),
    "home.my_items": ("待检仪器（已授权）", "Items to measure (authorized)"),
    "home.my_runs": ("我近7天的运行", "My runs, last 7 days"),
    "home.interrupted_runs": ("中断的运行", "Interrupted runs"),
    "home.rejected_drafts": ("被退回待重新起草", "Rejected drafts to redraft"),
    "home.awaiting_signature": ("待我签名的证书", "Certificates waiting for my signature"),
    "home.standards_overdue": ("已过期的计量标准", "Standards overdue"),
    "home.standards_due": ("即将到期的计量标准", "Standards due soon"),
    "home.materials_expired": ("已过期的标准物质", "Reference materials expired"),
    "home.materials_due": ("即将过期的标准物质", "Reference materials expiring soon"),
    "home.materials_low": ("余量不足的标准物质", "Reference materials running low"),
    "home.failed_checks": ("不合格的期间核查", "Failed intermediate checks"),
    "home.open_incidents": ("未关闭的事件", "Open incidents"),
    "home.open_impacts": ("未关闭的影响评估", "Open impact assessments"),
    "home.tables_to_release": ("待发布的规程表", "Regulation tables to release"),
    "home.audit_events": ("近7天审计事件", "Audit events, last 7 days"),
    "home.certificates_issued": ("近30天签发的证书", "Certificates issued, last 30 days"),
    "home.active_users": ("在用账户", "Active accounts"),
    "home.locked_users": ("已锁定账户", "Locked accounts"),
    "home.search": ("查询证书", "Search certificates"),
    "home.trail": ("审阅审计追踪", "Review the audit trail"),
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
