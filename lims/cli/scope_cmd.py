"""``lims scope``: the accreditation scope (CMCs) — import, show, release, check a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lims.cli.common import CliError, PasswordOpt, UserOpt, console, session_user
from lims.quality.permissions import Permission, require
from lims.quality.scope import (
    BelowCmc,
    check_scope,
    import_scope,
    list_scopes,
    parse_scope,
    release_scope,
    scope_table,
)

app = typer.Typer(
    help="Accreditation scope / 认可范围 (CMC, ILAC P14): import, show, release, check.",
    no_args_is_help=True,
)


@app.command("import")
def scope_import(
    file: Annotated[Path, typer.Argument(help="The scope as TOML.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Store a new scope version as a draft (quality manager)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{file}: cannot read: {exc}") from exc
    table = parse_scope(text, str(file))
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"scope {table.version} imported") as s:
            import_scope(s, actor, text, str(file))
    finally:
        db.dispose()
    console.print(
        f"scope {table.version} ({table.accreditation_number}, {len(table.entries)} entries) "
        "imported as a draft / 已导入（草稿）",
        highlight=False,
    )


@app.command("release")
def scope_release(
    version: Annotated[str, typer.Argument(help="The version to release.")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Release a scope version; the one released before is withdrawn (quality manager)."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as s:
            release_scope(s, actor, version, reason)
    finally:
        db.dispose()
    console.print(f"scope {version} released / 已发布", highlight=False)


@app.command("show")
def scope_show(
    user: UserOpt,
    password_file: PasswordOpt = None,
    version: Annotated[str | None, typer.Option(help="Show this version's entries.")] = None,
) -> None:
    """List the scope versions, and the entries of the released one (or of --version)."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            rows = list_scopes(s, actor)
            for row in rows:
                when = f" {row.released_at:%Y-%m-%d}" if row.released_at else ""
                console.print(
                    f"{row.version:<12} {row.status.value:<10}{when}  {row.accreditation_number}"
                    f"  sha256 {row.sha256[:16]}…",
                    highlight=False,
                )
            chosen = next(
                (
                    r
                    for r in rows
                    if (r.version == version if version else r.status.value == "released")
                ),
                None,
            )
            if version and chosen is None:
                raise CliError(f"--version {version}: no such scope version")
            if chosen is not None:
                table = scope_table(chosen)
                console.print(
                    f"scope {table.version}: below the CMC → {table.below_cmc.value}",
                    highlight=False,
                )
                for e in table.entries:
                    console.print(f"  {e.describe()}", highlight=False)
    finally:
        db.dispose()


@app.command("check")
def scope_check(
    run_id: Annotated[int, typer.Argument(help="The run.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    policy: Annotated[
        BelowCmc | None, typer.Option(help="Override the scope's rule for a U below the CMC.")
    ] = None,
) -> None:
    """Check a run's results against the released scope (what the draft will do)."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            require(actor, Permission.VIEW_RECORDS)
            decision = check_scope(s, run_id, policy=policy)
    finally:
        db.dispose()
    for p in decision.points:
        console.print(f"  [{p.status.value}] {p.message}", highlight=False)
    statement = decision.statement()
    if statement is not None:
        console.print(f"{statement[0]} / {statement[1]}", highlight=False)
    if decision.refused:
        raise CliError(
            f"run {run_id}: {len(decision.points)} result(s) checked; a U below the CMC is "
            "refused by the scope's rule / 不确定度小于 CMC，拒绝出具",
            exit_code=1,
        )
    mark = (
        "with accreditation mark 带认可标识" if decision.accredited else "without mark 不带认可标识"
    )
    console.print(
        f"run {run_id}: scope {decision.scope_version or '—'}, {mark}, "
        f"{len(decision.raised)} U raised to the CMC",
        highlight=False,
    )
