"""The shared vocabulary: verdicts, services, certificate types, signature meanings.

Each word is defined once here, with its Chinese and English label, and used by the
engine, the calculations, the services, the certificates, the CLI and the desktop app.
Values are what the database stores; :attr:`record_value` is the spelling the certificate
content record (whose SHA-256 is signed) has always used, so certificates issued by earlier
releases keep their hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "BiText",
    "CertificateType",
    "ServiceKind",
    "SignatureMeaning",
    "Verdict",
    "worst_verdict",
]


@dataclass(frozen=True)
class BiText:
    """A text in Chinese and English (Chinese first wherever it is shown)."""

    zh: str
    en: str

    def __post_init__(self) -> None:
        for name in ("zh", "en"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name}: a bilingual text needs both languages, got {value!r}")

    def joined(self, sep: str = " / ") -> str:
        """``"中文 / English"``."""
        return f"{self.zh}{sep}{self.en}"

    def __str__(self) -> str:
        return self.joined(" ")


class Verdict(StrEnum):
    """Outcome of a conformity decision for a result, a test item or a whole run."""

    PASS = "pass"
    FAIL = "fail"
    UNDETERMINED = "undetermined"
    """待定: JJF 1094 zone between MPE − U and MPE + U — no pass may be issued."""
    CONDITIONAL_PASS = "conditional_pass"
    CONDITIONAL_FAIL = "conditional_fail"
    NOT_STATED = "not_stated"
    """No statement of conformity (a calibration that only reports values)."""
    NO_STATEMENT = "not_stated"  # alias of NOT_STATED (the certificate layer's name)

    @property
    def zh(self) -> str:
        """Chinese label."""
        return _VERDICT_LABELS[self][0]

    @property
    def en(self) -> str:
        """English label."""
        return _VERDICT_LABELS[self][1]

    @property
    def label(self) -> str:
        """Bilingual label, Chinese first: ``合格 Pass``."""
        return f"{self.zh} {self.en}"

    @property
    def text(self) -> BiText:
        """The verdict as printed in a certificate's table (``—`` without a statement)."""
        if self is Verdict.NOT_STATED:
            return BiText("—", "—")
        return BiText(self.zh, self.en.lower())

    @property
    def record_value(self) -> str:
        """The spelling in certificate content records."""
        return "no_statement" if self is Verdict.NOT_STATED else self.value

    @property
    def severity(self) -> int:
        """Rank for the overall verdict: lower is worse."""
        return _SEVERITY.index(self)

    @classmethod
    def from_record(cls, text: str) -> Verdict:
        """Read a verdict as stored in a database row or a certificate content record."""
        return cls.NOT_STATED if text == "no_statement" else cls(text)


_VERDICT_LABELS = {
    Verdict.PASS: ("合格", "Pass"),
    Verdict.FAIL: ("不合格", "Fail"),
    Verdict.UNDETERMINED: ("待定", "Undetermined"),
    Verdict.CONDITIONAL_PASS: ("有条件合格", "Conditional pass"),
    Verdict.CONDITIONAL_FAIL: ("有条件不合格", "Conditional fail"),
    Verdict.NOT_STATED: ("不作符合性判定", "No statement of conformity"),
}

#: Worst first: fail before undetermined before the conditional ones before pass.
_SEVERITY = (
    Verdict.FAIL,
    Verdict.UNDETERMINED,
    Verdict.CONDITIONAL_FAIL,
    Verdict.CONDITIONAL_PASS,
    Verdict.PASS,
    Verdict.NOT_STATED,
)


def worst_verdict(verdicts: object) -> Verdict:
    """The overall verdict of several: the worst; NOT_STATED when none states conformity."""
    found = set(verdicts)  # type: ignore[call-overload]
    return next((v for v in _SEVERITY if v in found), Verdict.NOT_STATED)


class ServiceKind(StrEnum):
    """The service a customer asks for."""

    VERIFICATION = "verification"  # 检定
    CALIBRATION = "calibration"  # 校准

    @property
    def text(self) -> BiText:
        """检定 / Verification, 校准 / Calibration."""
        return (
            BiText("检定", "Verification")
            if self is ServiceKind.VERIFICATION
            else (BiText("校准", "Calibration"))
        )


class CertificateType(StrEnum):
    """The three kinds of document the lab issues."""

    VERIFICATION = "verification_certificate"
    """检定证书: a verification that passed."""
    NONCONFORMITY = "nonconformity_notice"
    """检定结果通知书: a verification that failed or is undetermined; lists the failed items."""
    NON_CONFORMITY = "nonconformity_notice"  # alias (the certificate layer's name)
    CALIBRATION = "calibration_certificate"
    """校准证书: a calibration."""

    @property
    def caption(self) -> BiText:
        """The certificate title in Chinese and English."""
        return _TYPE_TITLES[self]

    @property
    def record_value(self) -> str:
        """The spelling in certificate content records and DCCs."""
        return "verification_result_notice" if self is CertificateType.NONCONFORMITY else self.value

    @classmethod
    def from_record(cls, text: str) -> CertificateType:
        """Read a type as stored in a database row or a certificate content record."""
        return cls.NONCONFORMITY if text == "verification_result_notice" else cls(text)

    @classmethod
    def for_result(cls, service: ServiceKind, overall: Verdict) -> CertificateType:
        """检定证书 for a passed verification, 检定结果通知书 for a failed or undetermined
        one, 校准证书 for a calibration."""
        if service is ServiceKind.CALIBRATION:
            return cls.CALIBRATION
        if overall in (Verdict.PASS, Verdict.NOT_STATED):
            return cls.VERIFICATION
        return cls.NONCONFORMITY


_TYPE_TITLES = {
    CertificateType.VERIFICATION: BiText("检定证书", "Verification Certificate"),
    CertificateType.NONCONFORMITY: BiText(
        "检定结果通知书", "Notice of Verification Result (Non-conformity)"
    ),
    CertificateType.CALIBRATION: BiText("校准证书", "Calibration Certificate"),
}


class SignatureMeaning(StrEnum):
    """What an electronic signature attests (21 CFR 11.50), in signing order."""

    PERFORMED = "performed"
    REVIEWED = "reviewed"
    APPROVED = "approved"

    @property
    def order(self) -> int:
        """0, 1, 2: the position of this meaning in the required signing order."""
        return list(SignatureMeaning).index(self)

    def role(self, certificate_type: CertificateType) -> BiText:
        """The signatory's role title (检定员 / 校准员, 核验员, 批准人)."""
        if self is SignatureMeaning.PERFORMED:
            if certificate_type is CertificateType.CALIBRATION:
                return BiText("校准员", "Calibrated by")
            return BiText("检定员", "Verified by")
        if self is SignatureMeaning.REVIEWED:
            return BiText("核验员", "Checked by")
        return BiText("批准人", "Approved by")

    @property
    def statement(self) -> BiText:
        """What the signature means, as shown in the visible signature."""
        return _MEANING_TEXTS[self]


_MEANING_TEXTS = {
    SignatureMeaning.PERFORMED: BiText("执行", "performed"),
    SignatureMeaning.REVIEWED: BiText("核验", "reviewed"),
    SignatureMeaning.APPROVED: BiText("批准", "approved"),
}
