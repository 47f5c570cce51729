"""The fuel and emission regulation tables (shipped with or ahead of their procedures) carry
REGULATIONS.md §1.5's [U] values marked unverified and its [S]/[S2] values without the mark,
parse with the engine's parser, and are drafts."""

from __future__ import annotations

from pathlib import Path

import pytest

from lims.engine.regulation import load_regulation_table
from lims.units import ureg

ROOT = Path(__file__).resolve().parents[2] / "procedures"

#: table folders whose procedure exists
WITH_PROCEDURE = {"jjg672_bomb_calorimeter", "jjg1006_sulfur_analyzer"}

# table file → (procedure id, keys that must be marked unverified, keys that must not be)
EXPECTED: dict[str, tuple[str, set[str], set[str]]] = {
    "jjg672_bomb_calorimeter/jjg672.toml": (
        "jjg672-bomb-calorimeter",
        {
            "limits.ee_repeatability",
            "limits.indication_error",
            "limits.acid_fraction",
            "limits.verification_period",
            "repeats.energy_equivalent",
            "points.energy_equivalent",
        },
        {"limits.crm_value_min", "limits.crm_value_max", "limits.crm_relative_U_max"},
    ),
    "jjg1006_sulfur_analyzer/jjg1006.toml": (
        "jjg1006-sulfur-analyzer",
        {
            "limits.mpe_low",
            "limits.mpe_high",
            "limits.threshold",
            "limits.low_max",
            "limits.high_min",
            "points.low",
            "points.high",
        },
        {"limits.electrochemical_equivalent"},
    ),
    "jjg195_belt_scale/jjg195.toml": (
        "jjg195-belt-scale",
        {
            "limits.mpe_first_class_0.5",
            "limits.mpe_in_service_class_0.5",
            "limits.control_divisor",
            "limits.zero_fraction_class_1",
            "points.Qmax",
        },
        set(),
    ),
    "hj75_co2_cems/hj75_co2.toml": (
        "hj75-co2-cems",
        {
            "limits.relative_accuracy_co2",
            "limits.zero_drift",
            "limits.flow_error_high",
            "repeats.pairs",
            "points.P80",
        },
        {"limits.molar_volume", "limits.co2_molar_mass"},
    ),
}


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_marks_follow_the_sources(path: str) -> None:
    table = load_regulation_table(ROOT / path)
    procedure, must, must_not = EXPECTED[path]
    assert table.procedure == procedure
    marked = set(table.unverified_keys())
    assert must <= marked, sorted(must - marked)
    assert not must_not & marked, sorted(must_not & marked)
    assert not table.release.released
    assert table.limit("verification_period").to("year").magnitude == pytest.approx(1)
    # the procedure module, once written, lives beside its table and runs it
    module = (ROOT / path).parent / "__init__.py"
    if module.exists():
        assert f'id = "{procedure}"' in module.read_text("utf-8")


def test_values_as_recorded() -> None:
    bomb = load_regulation_table(ROOT / "jjg672_bomb_calorimeter/jjg672.toml")
    assert bomb.limit("crm_value_min") == ureg.Quantity(26430, "J/g")
    assert bomb.environment["temperature"].contains(ureg.Quantity(15, "degC"))
    assert not bomb.environment["temperature"].contains(ureg.Quantity(28.5, "degC"))
    sulfur = load_regulation_table(ROOT / "jjg1006_sulfur_analyzer/jjg1006.toml")
    # M(S)/(2F), the electrochemical equivalent of sulfur in the coulometric titration
    computed = 32.06 / (2 * 96485.33212) * 1000
    assert sulfur.limit("electrochemical_equivalent").to("mg/C").magnitude == pytest.approx(
        computed, abs=5e-5
    )
    belt = load_regulation_table(ROOT / "jjg195_belt_scale/jjg195.toml")
    for cls in ("0.2", "0.5", "1", "2"):  # in service: twice the first-verification MPE
        first = belt.limit(f"mpe_first_class_{cls}")
        assert belt.limit(f"mpe_in_service_class_{cls}") == 2 * first
    cems = load_regulation_table(ROOT / "hj75_co2_cems/hj75_co2.toml")
    assert cems.limit("molar_volume").to("L/mol").magnitude == pytest.approx(
        8.314462618 * 273.15 / 101.325, abs=1e-3
    )
