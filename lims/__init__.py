"""Carbon LIMS core: configuration, database, units, services, run engine and certificates.

Importing the package imports nothing else: the application's unit registry is installed
by :mod:`lims.units`, which every module that handles quantities imports, so the command
line's root starts without pint, SQLAlchemy or Qt.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("carbon-lims")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"
