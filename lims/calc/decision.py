"""Conformity decisions: JJF 1094-2002 for verification, ILAC G8:09/2019 for calibration.

All rules compare |E| (the error) with a symmetric limit T (the MPE or the
tolerance) given the expanded uncertainty U of the error. Error, limit and U
must be of the same kind of quantity (e.g. all in %FS, or all in µmol/mol).

JJF 1094-2002 (verification, 检定), with U = U95 of the error:

* U ≤ T/3:  pass if |E| ≤ T, fail if |E| > T;
* U > T/3:  pass if |E| ≤ T − U, fail if |E| ≥ T + U, otherwise undetermined
  (待定; no pass may be issued).

ILAC G8:09/2019 (calibration conformity statements, 符合性声明), U at k = 2:

* simple acceptance (w = 0): pass if |E| ≤ T, fail otherwise;
* binary guard band w = U:   pass if |E| ≤ T − U, fail otherwise;
* non-binary, w = U:         pass if |E| ≤ T − U; conditional pass if
  T − U < |E| ≤ T; conditional fail if T < |E| < T + U; fail if |E| ≥ T + U.

Values that agree to within 1e-9·T are treated as equal, so a boundary written
as "≤" holds even when floating-point arithmetic leaves a last-digit residue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lims.calc._common import CalcError, require_quantity, same_dimension
from lims.vocabulary import Verdict

__all__ = [
    "DECISION_RULES",
    "ILAC_G8_GUARD_BAND",
    "ILAC_G8_NON_BINARY",
    "ILAC_G8_SIMPLE",
    "JJF_1094",
    "Decision",
    "DecisionRule",
    "Verdict",
    "decide",
    "get_rule",
]

_REL_TOL = 1e-9


def _le(a: float, b: float, tol: float) -> bool:
    return a <= b + tol


def _jjf1094(e: float, t: float, u: float, tol: float) -> Verdict:
    if _le(u, t / 3, tol):
        return Verdict.PASS if _le(e, t, tol) else Verdict.FAIL
    if _le(e, t - u, tol):
        return Verdict.PASS
    if _le(t + u, e, tol):
        return Verdict.FAIL
    return Verdict.UNDETERMINED


def _simple(e: float, t: float, u: float, tol: float) -> Verdict:
    return Verdict.PASS if _le(e, t, tol) else Verdict.FAIL


def _guard_band(e: float, t: float, u: float, tol: float) -> Verdict:
    return Verdict.PASS if _le(e, t - u, tol) else Verdict.FAIL


def _non_binary(e: float, t: float, u: float, tol: float) -> Verdict:
    if _le(e, t - u, tol):
        return Verdict.PASS
    if _le(e, t, tol):
        return Verdict.CONDITIONAL_PASS
    if _le(t + u, e, tol):
        return Verdict.FAIL
    return Verdict.CONDITIONAL_FAIL


@dataclass(frozen=True)
class DecisionRule:
    """A decision rule with its id and the bilingual texts printed on the certificate."""

    id: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    verdicts: tuple[Verdict, ...]
    """The verdicts this rule can give."""
    _zone: Callable[[float, float, float, float], Verdict]

    @property
    def name(self) -> str:
        """Bilingual name, Chinese first."""
        return f"{self.name_zh} {self.name_en}"

    @property
    def description(self) -> str:
        """Bilingual one-line description, Chinese first."""
        return f"{self.description_zh} / {self.description_en}"


JJF_1094 = DecisionRule(
    id="JJF1094-2002",
    name_zh="JJF 1094-2002 检定判定规则",
    name_en="JJF 1094-2002 verification rule",
    description_zh=(
        "U95≤MPEV/3 时 |误差|≤MPEV 为合格；否则 |误差|≤MPEV−U95 为合格，"
        "|误差|≥MPEV+U95 为不合格，其间为待定"
    ),
    description_en=(
        "If U95 ≤ MPE/3: pass when |error| ≤ MPE; otherwise pass when |error| ≤ MPE − U95, "
        "fail when |error| ≥ MPE + U95, undetermined in between"
    ),
    verdicts=(Verdict.PASS, Verdict.FAIL, Verdict.UNDETERMINED),
    _zone=_jjf1094,
)

ILAC_G8_SIMPLE = DecisionRule(
    id="ILAC-G8:09/2019-simple",
    name_zh="简单接受规则（ILAC G8）",
    name_en="Simple acceptance (ILAC G8)",
    description_zh="|误差|≤允差限为合格，否则不合格；误判接受风险最高可达 50 %",
    description_en="Pass when |error| ≤ tolerance limit, else fail; false-accept risk up to 50 %",
    verdicts=(Verdict.PASS, Verdict.FAIL),
    _zone=_simple,
)

ILAC_G8_GUARD_BAND = DecisionRule(
    id="ILAC-G8:09/2019-guard-band-U",
    name_zh="二元保护带规则 w = U（ILAC G8）",
    name_en="Binary guard band w = U (ILAC G8)",
    description_zh="|误差|≤允差限−U（k=2）为合格，否则不合格；误判接受风险小于 2.5 %",
    description_en="Pass when |error| ≤ tolerance − U (k=2), else fail; false-accept risk < 2.5 %",
    verdicts=(Verdict.PASS, Verdict.FAIL),
    _zone=_guard_band,
)

ILAC_G8_NON_BINARY = DecisionRule(
    id="ILAC-G8:09/2019-non-binary-U",
    name_zh="非二元保护带规则 w = U（ILAC G8）",
    name_en="Non-binary guard band w = U (ILAC G8)",
    description_zh=(
        "|误差|≤允差限−U 合格；≤允差限 有条件合格；<允差限+U 有条件不合格；否则不合格（U 为 k=2）"
    ),
    description_en=(
        "Pass ≤ tolerance − U; conditional pass ≤ tolerance; conditional fail < tolerance + U; "
        "else fail (U at k=2)"
    ),
    verdicts=(
        Verdict.PASS,
        Verdict.CONDITIONAL_PASS,
        Verdict.CONDITIONAL_FAIL,
        Verdict.FAIL,
    ),
    _zone=_non_binary,
)

DECISION_RULES: dict[str, DecisionRule] = {
    r.id: r for r in (JJF_1094, ILAC_G8_SIMPLE, ILAC_G8_GUARD_BAND, ILAC_G8_NON_BINARY)
}


def get_rule(rule_id: str) -> DecisionRule:
    """Look a rule up by its id; raise :class:`CalcError` listing the known ids."""
    try:
        return DECISION_RULES[rule_id]
    except KeyError:
        raise CalcError(
            f"unknown decision rule {rule_id!r}; known: {', '.join(sorted(DECISION_RULES))}"
        ) from None


@dataclass(frozen=True)
class Decision:
    """A verdict with the numbers it was made from (all in the limit's unit)."""

    verdict: Verdict
    rule: DecisionRule
    error: Any
    limit: Any
    """The MPE or tolerance limit T (positive)."""
    expanded_uncertainty: Any


def decide(rule: DecisionRule | str, error: Any, limit: Any, expanded_uncertainty: Any) -> Decision:
    """Apply ``rule`` (or its id) to an error, a symmetric limit ±T and the U of the error.

    ``limit`` is the magnitude of the MPE / tolerance (a negative value is taken
    as its magnitude). Error and U are converted to the limit's unit; a
    quantity of another kind is refused.
    """
    r = get_rule(rule) if isinstance(rule, str) else rule
    if not isinstance(r, DecisionRule):
        raise CalcError(f"decision rule: expected a DecisionRule or its id, got {rule!r}")
    limit = abs(require_quantity(limit, "MPE / tolerance limit"))
    if limit.magnitude == 0:
        raise CalcError("MPE / tolerance limit: must not be zero")
    error = same_dimension(
        require_quantity(error, "error"), limit, "error", "MPE / tolerance limit"
    )
    big_u = same_dimension(
        require_quantity(expanded_uncertainty, "expanded uncertainty"),
        limit,
        "expanded uncertainty",
        "MPE / tolerance limit",
    )
    if big_u.magnitude < 0:
        raise CalcError(f"expanded uncertainty: must not be negative, got {big_u:~P}")
    t = float(limit.magnitude)
    verdict = r._zone(abs(float(error.magnitude)), t, float(big_u.magnitude), _REL_TOL * t)
    return Decision(verdict=verdict, rule=r, error=error, limit=limit, expanded_uncertainty=big_u)
