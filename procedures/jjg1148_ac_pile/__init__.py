"""JJG 1148-2022: verification of AC charging piles (logic in :mod:`procedures.charging_pile`)."""

from __future__ import annotations

from lims.models.enums import ServiceKind
from procedures.charging_pile import ChargingPileProcedure

__all__ = ["Jjg1148AcPile"]


class Jjg1148AcPile(ChargingPileProcedure):
    """AC charging-pile verification (JJG 1148-2022)."""

    id = "jjg1148-ac-pile"
    version = "2.0.0"
    title_zh = "电动汽车交流充电桩检定"
    title_en = "Verification of AC charging piles for electric vehicles"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 1148-2022"
    table_file = "jjg1148.toml"
