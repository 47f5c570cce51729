"""Carbon LIMS core: configuration, database, units, services, run engine and certificates."""

from importlib.metadata import PackageNotFoundError, version

from lims import units as _units  # installs the application unit registry first

try:
    __version__ = version("carbon-lims")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

del _units
