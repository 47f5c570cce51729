"""The bilingual catalogue of what the engine and the services tell people.

Each message has a stable key and a Chinese and an English template. Run events carry the
key and its parameters, so every front end shows them in the language it is set to (the
desktop app's language switch, the command line's bilingual lines); the bilingual text of
:func:`bilingual` is what goes into the database and the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MESSAGES", "bilingual", "text"]

#: key → (Chinese, English) with ``{name}`` placeholders.
MESSAGES: Mapping[str, tuple[str, str]] = {
    "run.instrument_error": (
        "仪器故障，已暂停：步骤 {step}：{error}。排除故障后继续，将重做该步骤",
        "instrument error in step {step}: {error}. Fix the instrument, then resume to "
        "repeat the step",
    ),
    "run.resumed_repeat": ("继续：重做步骤 {step}", "resumed: repeating step {step}"),
    "run.resumed": ("继续运行", "resumed"),
    "run.paused": ("操作员暂停", "paused by operator"),
    "run.aborted": ("中止", "aborted by operator"),
    "run.stopped": (
        "停止：操作员在步骤边界停止，已测数据保留",
        "stopped by operator at a step boundary; measured data kept",
    ),
    "run.failed": ("运行失败：{error}", "failed: {error}"),
    "run.refused": ("拒绝运行（{where}）：{failures}", "refused {where}: {failures}"),
    "run.lease_lost": (
        "运行已被另一进程接管，本进程停止",
        "another process took over the run; this process stops",
    ),
    "run.safe_state_failed": (
        "安全状态失败：{slot}：{error}",
        "safe_state of {slot} failed: {error}",
    ),
    "run.not_stable": (
        "未稳定：{quantity}（{point}）{elapsed} 后仍未稳定",
        "{quantity} at {point} not stable after {elapsed}",
    ),
    "run.step_skipped": (
        "测试点 {point} 不在本次计划内，跳过",
        "test point {point} is not in this run's plan: skipped",
    ),
    "prompt.confirm_again": ("请完成后确认", "Confirm when this has been done"),
    "prompt.invalid": ("输入无效：{key}：{error}", "invalid entry for {key}: {error}"),
    "prompt.implausible": (
        "数值不合理：{key}：{value} 超出合理范围 {low} … {high}",
        "{key}: {value} is outside the plausible range {low} … {high}",
    ),
    "step.setup": ("准备", "Setup"),
    "step.done": ("步骤 {step} 完成", "step {step} completed"),
    "audit.walk_full": (
        "完整核查：自第一个事件起逐一核查",
        "full walk: every event from the first",
    ),
    "audit.walk_incremental": (
        "增量核查：自检查点（事件 {checkpoint}，覆盖至事件 {covers}）起逐一核查其后事件；"
        "各表摘要已全部重新比对",
        "incremental from checkpoint {checkpoint} (covering events up to {covers}): newer "
        "events walked in full, every table's digest re-compared",
    ),
    "audit.checkpoint_written": (
        "已写入检查点：事件 {checkpoint}（覆盖至事件 {covers}），已锚定至事件 {anchored}",
        "checkpoint written: event {checkpoint} (covering events up to {covers}), anchored "
        "at event {anchored}",
    ),
    "audit.checkpoint_refused": (
        "未写入检查点：核查结论不是“完整”",
        "no checkpoint written: the verdict is not intact",
    ),
    "wo.unknown": ("无此委托单：{number}", "no such work order: {number}"),
    "wo.deliver_state": (
        "委托单 {number} 状态为 {status}：仅已出证的委托单可交付",
        "work order {number} is {status}: only a certified work order can be delivered",
    ),
    "wo.cancel_reason": ("取消委托单须说明原因", "cancelling a work order needs a reason"),
    "wo.cancel_state": (
        "委托单 {number} 状态为 {status}，不可取消",
        "work order {number} is {status}: it cannot be cancelled",
    ),
    "wo.delivered": ("委托单 {number} 已交付", "work order {number} delivered"),
    "wo.cancelled": ("委托单 {number} 已取消：{reason}", "work order {number} cancelled: {reason}"),
    "wo.page": ("第 {first}–{last} 条，共 {total} 条", "{first}–{last} of {total}"),
    "verify.valid": (
        "有效：签名与内容完整，证书在用",
        "VALID: signatures and content intact, certificate in force",
    ),
    "verify.simulated": (
        "模拟：签名与内容完整，但这是模拟数据，不是有效证书",
        "SIMULATED: signatures and content intact, but NOT A VALID CERTIFICATE",
    ),
    "verify.altered": (
        "已被篡改：文件在签名后被改动",
        "ALTERED: the file was changed after signing",
    ),
    "verify.unverifiable": (
        "无法验证：不能证明文件来自本实验室且完整",
        "UNVERIFIABLE: the file cannot be shown to be the lab's, complete and intact",
    ),
    "verify.revoked": (
        "已撤销：文件完整，但证书已撤销",
        "REVOKED: the file is intact, but the certificate is revoked",
    ),
    "verify.superseded": (
        "已被替代：文件完整，但证书已被替代",
        "SUPERSEDED: the file is intact, but the certificate is superseded",
    ),
    "verify.headline": ("{verdict_zh}（{kind} {number}）", "{verdict_en} ({kind} {number})"),
    "verify.signature": (
        "签名 {meaning}：{signer}（{user}），{when}{stamp}：{state}",
        "signature {meaning}: {signer} ({user}), {when}{stamp}: {state}",
    ),
    "verify.doc_timestamp": (
        "文档时间戳：{tsa}，{when}：{state}",
        "document timestamp: {tsa}, {when}: {state}",
    ),
    "verify.dcc_signature": (
        "DCC XML 签名：{signer}：{state}",
        "DCC XML signature: {signer}: {state}",
    ),
    "verify.finding.altered": ("改动：{detail}", "altered: {detail}"),
    "verify.finding.untrusted": ("无法验证：{detail}", "unverifiable: {detail}"),
    "verify.finding.records": ("与记录不符：{detail}", "records: {detail}"),
    "verify.long_term": (
        "长期验证数据齐全（PAdES B-LTA：签名时间戳、吊销数据、文档时间戳）",
        "long-term validation data present (PAdES B-LTA: signature timestamps, revocation data, "
        "document timestamp)",
    ),
    "verify.not_long_term": (
        "缺少长期验证数据（时间戳或吊销数据）",
        "no long-term validation data (timestamps or revocation data)",
    ),
    "verify.revoked_reason": ("撤销原因：{reason}", "revoked: {reason}"),
    "verify.superseded_by": ("替代证书：{number}", "superseded by {number}"),
    "verify.status_from": ("证书状态依据：{source}", "state from: {source}"),
    "verify.status_unknown": (
        "状态清单（{date}）未列出此证书",
        "the status list of {date} does not name this certificate",
    ),
    "verify.status_list_bad": ("状态清单不可用：{error}", "status list rejected: {error}"),
    "verify.not_certificate": (
        "{name} 不是证书 PDF 或 DCC XML 文件",
        "{name} is neither a certificate PDF nor a DCC XML file",
    ),
    "verify.no_state": (
        "未提供状态清单：无法得知证书是否已撤销或被替代",
        "no status list given: whether the certificate was revoked or superseded is not known",
    ),
    "session.opened": (
        "已登录 {user}：会话有效至 {until}（{minutes} 分钟）；签名与安全操作仍须每次输入密码",
        "logged in as {user} until {until} ({minutes} min); signatures and security "
        "actions still ask for the password every time",
    ),
    "session.closed": (
        "已退出：{user} 的会话已关闭",
        "logged out: the session of {user} is closed",
    ),
    "session.none": ("{user} 在此没有会话", "no session of {user} here"),
    "session.stale_removed": (
        "会话文件 {path} 未对应任何有效会话，已删除",
        "the session file {path} held no open session; removed",
    ),
    "session.disabled": (
        "命令行会话已停用（cli_session_minutes = 0）",
        "command-line sessions are disabled (cli_session_minutes = 0)",
    ),
    "session.unknown": (
        "会话文件 {path} 中的令牌不对应任何会话（被改动，或属于另一数据库）",
        "the token in {path} matches no session (altered, or of another database)",
    ),
    "session.closed_already": ("{user} 的会话已关闭", "the session of {user} was closed"),
    "session.expired": ("{user} 的会话已于 {when} 过期", "the session of {user} expired at {when}"),
    "session.other_user": (
        "会话文件 {path} 属于另一用户，不是 {user}",
        "the session in {path} belongs to another user, not {user}",
    ),
    "session.elsewhere": (
        "会话文件 {path} 是在另一主机或由另一操作系统用户打开的",
        "the session in {path} was opened on another host or by another OS user",
    ),
    "session.account": (
        "账户 {user} 不能使用其会话：{detail}",
        "the account {user} cannot use its session: {detail}",
    ),
    "session.password_old": (
        "{user} 的密码已超过 {days} 天，请先修改",
        "the password of {user} is older than {days} days: change it first",
    ),
    "session.unreadable": (
        "无法读取会话文件 {path}：{error}",
        "cannot read the session file {path}: {error}",
    ),
    "session.damaged": ("会话文件 {path} 已损坏", "the session file {path} is damaged"),
    "session.exposed": (
        "会话文件 {path} 可被其他用户访问（权限 {mode}），拒绝使用",
        "the session file {path} is open to other users (mode {mode}): refused",
    ),
    "session.unwritable": (
        "无法写入会话文件 {path}：{error}；会话已关闭",
        "cannot write the session file {path}: {error}; the session was closed",
    ),
}


def text(message: str, lang: str = "en", **params: Any) -> str:
    """The message ``message`` (a key) in one language (``zh`` or ``en``)."""
    zh, en = MESSAGES[message]
    return (zh if lang == "zh" else en).format(**params)


def bilingual(message: str, **params: Any) -> str:
    """Message ``message`` (a key), Chinese first, English beside it: what is stored and
    logged."""
    zh, en = MESSAGES[message]
    return f"{zh.format(**params)} / {en.format(**params)}"
