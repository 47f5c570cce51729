"""Reading typed results in the procedure tests by the names the tests compute.

The tests compute expectations for an indication error, its U, the limit …; this maps
those names onto the fields of a :class:`lims.results.ResultRecord` (and its extras), so a
test states what it checks in its own words.
"""

from __future__ import annotations

from typing import Any

from lims.results import ErrorForm, ResultRecord


def field(rec: ResultRecord, key: str) -> Any:
    """``key`` of a result: error, error_fs, U, U_fs, limit/mpe, k, n, reference, …"""
    if key in ("reference", "indication"):
        return getattr(rec, key)
    if key in ("mpe", "limit", "repeatability_limit", "tolerance"):
        assert rec.limit is not None, (rec.point.key, key)
        return rec.limit.value
    if key == "k":
        assert rec.uncertainty is not None
        return rec.uncertainty.k
    if key in ("error_fs", "drift_fs") and rec.form is ErrorForm.FIDUCIAL:
        return rec.value
    if key in ("U_fs", "expanded_uncertainty_fs"):
        assert rec.uncertainty is not None
        return rec.uncertainty.expanded
    if key in ("U", "expanded_uncertainty"):
        absolute = rec.extra("U")
        if absolute is not None:
            return absolute
        assert rec.uncertainty is not None
        return rec.uncertainty.expanded
    if key in ("error", "drift"):
        absolute = rec.extra(key)
        if absolute is not None:
            return absolute
        return rec.value
    if key in ("repeatability", "t90"):
        return rec.value
    value = rec.extra(key)
    if value is None:
        raise KeyError(f"result {rec.point.key} {rec.characteristic.value} has no {key!r}")
    return value
