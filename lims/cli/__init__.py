"""The ``lims`` command line."""
