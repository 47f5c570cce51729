"""Alembic migrations of the lims database (shipped inside the package)."""
