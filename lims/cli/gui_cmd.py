"""``lims gui``: start the desktop application (Qt is imported only when it runs)."""

from __future__ import annotations

import typer


def gui() -> None:
    """Start the desktop application on the configured database (图形界面)."""
    from ui.app import main as run_gui

    raise typer.Exit(run_gui())
