"""Carbon LIMS core: configuration, database, units, services, run engine and certificates.

Importing the package imports nothing else: the application's unit registry is installed
by :mod:`lims.units`, which every module that handles quantities imports, so the command
line's root starts without pint, SQLAlchemy or Qt. ``lims.__version__`` is read from the
installed distribution when first asked for.
"""


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'lims' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("carbon-lims")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
