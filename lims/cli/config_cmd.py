"""``lims config show`` and ``lims units check``."""

from __future__ import annotations

from typing import Annotated

import typer

from lims.cli.common import console, settings

config_app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)
units_app = typer.Typer(help="Check how a quantity or unit is understood.", no_args_is_help=True)


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings (passwords hidden) and where each came from."""
    s = settings()
    for key, value in s.as_display().items():
        source = s.sources.get(key, "default" if key != "config_file" else "")
        suffix = f"  [dim]({source})[/dim]" if source else ""
        console.print(f"{key} = {value}{suffix}", highlight=False)


@units_app.command("check", context_settings={"ignore_unknown_options": True})
def units_check(
    text: Annotated[str, typer.Argument(help='A quantity such as "1000 μmol/mol".')],
    like: Annotated[
        str | None, typer.Option(help="The unit the field expects, e.g. umol/mol.")
    ] = None,
) -> None:
    """Parse a quantity as the application would, and print its canonical form."""
    from lims.units import display_quantity, parse_quantity, to_storage

    q = parse_quantity(text, like)
    magnitude, unit = to_storage(q)
    console.print(
        f"{display_quantity(q)}  (stored as {magnitude!r} [{unit}])", highlight=False, markup=False
    )
