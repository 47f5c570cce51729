"""``lims rm``: reference materials (标准物质) — receipt and listing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from lims.cli.common import (
    CliError,
    console,
    database,
    options_for,
    parse_date,
    quantity,
    read_password,
    settings,
)
from lims.models import ReferenceMaterial
from lims.quality.materials import receive_material
from lims.services.lab import policy_from
from lims.services.materials import ReferenceMaterialInput, certified_value_problem

app = typer.Typer(help="Reference materials: receive and list.", no_args_is_help=True)
_COLUMN_OPTIONS = {
    "reference_materials.tag": "--tag",
    "reference_materials.gbw_number": "--gbw",
    "reference_materials.name": "--name",
    "reference_materials.component": "--component",
    "reference_materials.matrix": "--matrix",
    "reference_materials.lot": "--lot",
    "reference_materials.cylinder_number": "--cylinder",
    "reference_materials.certificate_number": "--certificate",
}


@app.command("receive")
def rm_receive(
    tag: Annotated[str, typer.Option(help="Lab tag of the unit, e.g. RM-CO2-0400.")],
    gbw: Annotated[str, typer.Option(help="GBW or GBW(E) number.")],
    name: Annotated[str, typer.Option(help="Name, e.g. 氮中二氧化碳 CO2 in N2.")],
    component: Annotated[str, typer.Option(help="Certified component, e.g. CO2.")],
    certified: Annotated[str, typer.Option(help='Certified value with unit, "400 umol/mol".')],
    uncertainty: Annotated[str, typer.Option(help='Expanded uncertainty U, "4 umol/mol".')],
    expires: Annotated[str, typer.Option(help="Expiry date YYYY-MM-DD.")],
    user: Annotated[str, typer.Option(help="Your user name (quality manager).")],
    k: Annotated[float, typer.Option(help="Coverage factor of U.")] = 2.0,
    matrix: Annotated[str, typer.Option(help="Matrix (balance gas), e.g. N2.")] = "",
    lot: Annotated[str, typer.Option()] = "",
    cylinder: Annotated[str, typer.Option(help="Cylinder number.")] = "",
    certificate: Annotated[str, typer.Option(help="Certificate number of the RM.")] = "",
    remaining: Annotated[
        str | None, typer.Option(help='Cylinder pressure or mass, "10 MPa" or "1 g".')
    ] = None,
    minimum: Annotated[
        str | None, typer.Option(help="Minimum usable pressure or mass, same dimension.")
    ] = None,
    received: Annotated[str | None, typer.Option(help="Receipt date (default today).")] = None,
    password_file: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Record a received reference material; every value is checked before anything is written."""
    certified_q = quantity(certified, "--certified")
    problem = certified_value_problem(component, certified_q)
    if problem is not None:
        raise CliError(f"--certified: {problem}")
    data = ReferenceMaterialInput(
        tag=tag,
        gbw_number=gbw,
        name=name,
        component=component,
        matrix=matrix,
        certified=certified_q,
        expanded_uncertainty=quantity(uncertainty, "--uncertainty"),
        coverage_factor=k,
        lot=lot,
        cylinder_number=cylinder,
        certificate_number=certificate,
        received_on=parse_date(received, "--received") if received else date.today(),
        expires_on=parse_date(expires, "--expires"),
        remaining=quantity(remaining, "--remaining") if remaining else None,
        minimum=quantity(minimum, "--minimum") if minimum else None,
    )
    data.validate()
    from lims.security import AuthenticationError, authenticate

    s = settings()
    password = read_password(password_file)
    db = database(s)
    try:
        failure: AuthenticationError | None = None
        with db.write(reason="reference material received") as session:
            try:
                actor = authenticate(session, user, password, policy_from(s))
            except AuthenticationError as exc:
                failure = exc
            else:
                session.info["actor"] = actor
                with options_for(_COLUMN_OPTIONS):
                    receive_material(session, actor, data)  # checks the permission
        if failure is not None:
            raise CliError(str(failure))
    finally:
        db.dispose()
    console.print(f"received {tag} ({gbw})", highlight=False)


@app.command("list")
def rm_list() -> None:
    """List reference materials with their certified values and expiry."""
    db = database()
    try:
        with db.read() as s:
            for rm in s.scalars(select(ReferenceMaterial).order_by(ReferenceMaterial.tag)):
                console.print(
                    f"{rm.tag:<12} {rm.gbw_number:<14} {rm.component:<5} "
                    f"{rm.certified_value:g} ± {rm.expanded_uncertainty:g} {rm.unit} "
                    f"(k={rm.coverage_factor:g})  expires {rm.expires_on}  {rm.status.value}",
                    highlight=False,
                )
    finally:
        db.dispose()
