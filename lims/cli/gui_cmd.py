"""``lims gui``: start the desktop application (Qt is imported only when it runs).

:func:`display_available` and :func:`open_gui` are what ``lims demo`` needs to open the
application on the demo database when a display is present.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import typer

from lims.config import Settings


def display_available(env: Mapping[str, str] | None = None) -> bool:
    """Whether windows can be shown: Windows, macOS, or an X11/Wayland display on Linux.

    ``QT_QPA_PLATFORM=offscreen`` (tests, servers) counts as no display.
    """
    env = os.environ if env is None else env
    if env.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return False
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def open_gui(settings: Settings | None = None) -> int:
    """Run the desktop application on ``settings``' database (default: the configured one).

    Returns the application's exit status when its last window closes.
    """
    from lims.cli.start_up import long_lived_imports

    with long_lived_imports():  # Qt and the application: about 1.5 s of imports
        from ui.app import main as run_gui
    return run_gui(settings=settings)


def gui() -> None:
    """Start the desktop application on the configured database (图形界面)."""
    raise typer.Exit(open_gui())


app = typer.Typer()  # ``gui`` is a command of the root
app.command("gui")(gui)
