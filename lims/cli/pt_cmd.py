"""``lims pt round|list|report``: comparison rounds scored by En, z and ζ (added to ``lims pt``)."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from lims.cli.common import CliError, PasswordOpt, UserOpt, console, session_user
from lims.quality.comparisons import (
    KINDS,
    ComparisonInput,
    ParticipantResult,
    list_rounds,
    record_comparison,
    round_results,
)

app = typer.Typer()  # commands added to ``lims pt``


def _result(entry: Any, where: str) -> ParticipantResult:
    if not isinstance(entry, dict):
        raise CliError(f"{where}: must be a table")
    try:
        value = float(entry["value"])
        big_u = float(entry["U"]) if "U" in entry else None
        k = float(entry.get("k", 2.0))
    except KeyError as exc:
        raise CliError(f"{where}: {exc.args[0]} is missing") from exc
    except (TypeError, ValueError) as exc:
        raise CliError(f"{where}: value, U and k must be numbers") from exc
    name = str(entry.get("participant") or entry.get("device") or "").strip()
    if not name:
        raise CliError(f"{where}: name the participant (or device)")
    return ParticipantResult(
        name, value, big_u, k, bool(entry.get("own", False)), str(entry.get("device", ""))
    )


def read_round(path: Path) -> ComparisonInput:
    """A comparison round from its TOML file (one clear error naming the place)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path}: not valid TOML: {exc}") from exc
    for key in ("kind", "scheme", "measurand", "unit", "performed_on"):
        if key not in data:
            raise CliError(f"{path}: {key} is missing")
    if data["kind"] not in KINDS:
        raise CliError(f"{path}: kind must be one of {', '.join(KINDS)}")
    when = data["performed_on"]
    if not isinstance(when, date):
        raise CliError(f"{path}: performed_on must be a date (YYYY-MM-DD)")
    results = data.get("result")
    if not isinstance(results, list) or not results:
        raise CliError(f"{path}: no [[result]]")
    reference = data.get("reference")
    sigma = data.get("sigma_pt")
    if sigma is not None and not isinstance(sigma, int | float):
        raise CliError(f"{path}: sigma_pt must be a number")
    return ComparisonInput(
        kind=str(data["kind"]),
        scheme=str(data["scheme"]),
        measurand=str(data["measurand"]),
        unit=str(data["unit"]),
        performed_on=when,
        results=tuple(_result(r, f"{path} result {i + 1}") for i, r in enumerate(results)),
        reference=_result(reference, f"{path} reference") if reference is not None else None,
        sigma_pt=float(sigma) if sigma is not None else None,
        provider=str(data.get("provider", "")),
        round_code=str(data.get("round_code", "")),
        procedure_id=str(data.get("procedure", "")),
        notes=str(data.get("notes", "")),
    )


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:+.2f}"


@app.command("round")
def pt_round(
    file: Annotated[Path, typer.Argument(help="The round as TOML (results, reference).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Record a comparison round; unsatisfactory own results open an incident."""
    data = read_round(file)
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"comparison {data.scheme} {data.round_code}") as s:
            rnd = record_comparison(s, actor, data)
            round_id = rnd.id
    finally:
        db.dispose()
    console.print(f"comparison round {round_id} recorded / 已登记", highlight=False)
    _report(round_id, user, password_file)


def _report(round_id: int, user: str, password_file: Path | None) -> None:
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            rnd, rows = round_results(s, actor, round_id)
            console.print(
                f"{rnd.id} {rnd.kind} {rnd.scheme} {rnd.round_code} {rnd.measurand} "
                f"[{rnd.unit}] {rnd.performed_on}: x_pt = {rnd.assigned_value:.6g} "
                f"(u = {rnd.assigned_u:.3g}, {rnd.assigned_method})",
                highlight=False,
            )
            for r in rows:
                mark = "*" if r.own_lab else " "
                inc = f"  incident {r.incident_id}" if r.incident_id else ""
                console.print(
                    f" {mark}{r.device_tag or r.participant:<16} {r.value:>12.6g}  "
                    f"En {_f(r.en)}  z {_f(r.z)}  ζ {_f(r.zeta)}  {r.assessment}{inc}",
                    highlight=False,
                )
    finally:
        db.dispose()


@app.command("report")
def pt_report(
    round_id: Annotated[int, typer.Argument(help="The comparison round.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """A round's assigned value and every participant's En, z and ζ."""
    _report(round_id, user, password_file)


@app.command("list")
def pt_list(
    user: UserOpt,
    password_file: PasswordOpt = None,
    kind: Annotated[str | None, typer.Option(help=f"One of {', '.join(KINDS)}.")] = None,
) -> None:
    """Comparison rounds, newest first, with the lab's own assessment."""
    if kind is not None and kind not in KINDS:
        raise CliError(f"--kind: {kind!r} is not one of {', '.join(KINDS)}")
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            for rnd in list_rounds(s, actor, kind=kind):
                _, rows = round_results(s, actor, rnd.id)
                own = [r.assessment for r in rows if r.own_lab or rnd.kind == "internal"]
                console.print(
                    f"{rnd.id:<5} {rnd.performed_on} {rnd.kind:<16} {rnd.scheme} "
                    f"{rnd.round_code}  {rnd.measurand}: {', '.join(own) or '—'}",
                    highlight=False,
                )
    finally:
        db.dispose()
