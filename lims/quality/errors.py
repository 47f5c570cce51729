"""Errors of the quality services (each message says what and where)."""

from __future__ import annotations


class QualityError(ValueError):
    """A quality-system request that cannot be done as asked; nothing was changed."""


class PermissionDenied(QualityError):  # noqa: N818 (the name the lab uses)
    """The acting user's roles do not allow the operation (or the account is unusable)."""


class NotFoundError(QualityError):
    """A record named by the request does not exist."""
