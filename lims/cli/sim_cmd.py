"""``lims sim``: the simulated bench."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The simulated bench: serve a bench file's instruments.", no_args_is_help=True
)


@app.command("serve")
def sim_serve(
    bench: Annotated[Path, typer.Argument(help="Bench file (TOML) with simulated instruments.")],
) -> None:
    """Start every instrument of BENCH on loopback, print their addresses, stop on Ctrl-C."""
    from drivers.sim.serve import serve_forever

    code = serve_forever(bench, sys.stdout)
    if code:
        raise typer.Exit(code)
