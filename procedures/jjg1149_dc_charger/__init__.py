"""JJG 1149-2022: verification of DC off-board chargers (logic in
:mod:`procedures.charging_pile`)."""

from __future__ import annotations

from lims.models.enums import ServiceKind
from procedures.charging_pile import ChargingPileProcedure

__all__ = ["Jjg1149DcCharger"]


class Jjg1149DcCharger(ChargingPileProcedure):
    """DC off-board charger verification (JJG 1149-2022)."""

    id = "jjg1149-dc-charger"
    version = "2.0.0"
    title_zh = "电动汽车非车载充电机检定"
    title_en = "Verification of DC off-board chargers for electric vehicles"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 1149-2022"
    table_file = "jjg1149.toml"
