"""A command's start-up: the cycle collector stays out of the way of the imports.

A command imports modules (SQLAlchemy and the models, or Qt and the desktop application)
whose several hundred thousand objects live until the process exits. The cycle collector
would scan them again and again while they load, and once more at exit: it is turned off
while they load, and what exists then is frozen out of its reach
(:func:`gc.freeze`) before it is turned back on for the command's own work.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Whether this process is a command's (started by ``lims.cli.main.main``): only then is
#: freezing everything that exists harmless (a test process keeps its own garbage).
_command_process = False


def begin() -> None:
    """Turn the cycle collector off until :func:`end` (a command's process only)."""
    global _command_process
    _command_process = True
    gc.disable()


def end() -> None:
    """Freeze what exists and turn the cycle collector back on (if :func:`begin` turned it
    off; otherwise nothing)."""
    if _command_process and not gc.isenabled():
        gc.freeze()
        gc.enable()


@contextmanager
def long_lived_imports() -> Iterator[None]:
    """The block's imports load without the cycle collector and are frozen after it, in a
    command's process; elsewhere (in a test) the block just runs."""
    if not _command_process or not gc.isenabled():  # not a command, or already starting up
        yield
        return
    begin()
    try:
        yield
    finally:
        end()
