"""The shipped regulation tables carry REGULATIONS.md's [U] values marked unverified, and
its [S]/[S2] values without the mark (shared/domain/REGULATIONS.md §1)."""

from __future__ import annotations

import pytest

from lims.engine import discover_procedures
from lims.units import ureg

# procedure → (keys that must be marked unverified, keys that must not be)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    # §1.1: Table 1 (MPE, repeatability, T90) and the verification interval not read
    "jjg635": (
        {
            "limits.mpe",
            "limits.repeatability",
            "limits.t90",
            "limits.zero_drift",
            "limits.span_drift",
            "limits.verification_period",
        },
        set(),
    ),
    # §1.3: flow points [U]; class MPEs [S2]; no verification interval given at all
    "jjg1037-gas-flowmeter": (
        {f"points.{p}" for p in ("qmin", "qt", "0.10qmax", "0.25qmax", "0.40qmax", "qmax")}
        | {"limits.verification_period"},
        {"limits.mpe_class_0.2", "limits.mpe_class_1.0", "limits.standard_divisor"},
    ),
    # §1.2: test currents and the verification interval not read; class MPEs and clock [S2]
    "jjg1148-ac-pile": (
        {"points.Imin", "points.0.5Imax", "points.Imax", "limits.verification_period"},
        {"limits.mpe_class_1", "limits.mpe_class_2", "limits.clock_first"},
    ),
    "jjg1149-dc-charger": (
        {"points.Imin", "points.0.5Imax", "points.Imax", "limits.verification_period"},
        {"limits.mpe_class_1", "limits.mpe_class_2", "limits.clock_subsequent"},
    ),
    # §1.4: JJF 1321 content not confirmed
    "elemental-analyzer-cal": (
        {"points.acetanilide.C", "points.sulfanilamide.S", "repeats.analysis"},
        set(),
    ),
}


@pytest.mark.parametrize("procedure_id", sorted(EXPECTED))
def test_unverified_values_are_marked_and_the_table_is_not_released(procedure_id: str) -> None:
    table = discover_procedures().get(procedure_id)().table
    marked = set(table.unverified_keys())
    must, must_not = EXPECTED[procedure_id]
    assert must <= marked, sorted(must - marked)
    assert not must_not & marked, sorted(must_not & marked)
    # a table holding unverified values is never shipped as released
    assert table.has_unverified
    assert not table.release.released


@pytest.mark.parametrize(
    ("procedure_id", "years"),
    # §1.1 "commonly 1 year"; §1.2 "often quoted as up to 3 years": the shortest common
    # period is shipped until a quality manager confirms the official one
    [
        ("jjg635", 1),
        ("jjg1037-gas-flowmeter", 1),
        ("jjg1148-ac-pile", 1),
        ("jjg1149-dc-charger", 1),
    ],
)
def test_verification_period_is_a_duration(procedure_id: str, years: int) -> None:
    table = discover_procedures().get(procedure_id)().table
    period = table.limit("verification_period")
    assert period.to("year").magnitude == pytest.approx(years)
    assert period.units == ureg.Unit("year")


def test_lab_method_table_holds_no_regulation_values() -> None:
    # the CH4 calibration method is the lab's own (no national regulation, §1.1)
    table = discover_procedures().get("gas-analyzer-cal")().table
    assert table.unverified_keys() == []
    assert table.release.released
