"""Database access: engine set-up, sessions and column types."""

from lims.db import lengths as _lengths  # noqa: F401  (installs the length check)
from lims.db.engine import Database, make_engine

__all__ = ["Database", "make_engine"]
