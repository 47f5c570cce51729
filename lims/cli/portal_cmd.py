"""``lims portal serve`` and ``lims customers …`` (customers' portal accounts and API tokens).

Account commands log the lab user in (``--user``, ``--password-file`` or a
prompt); the services check that they are an administrator, and every change is
audited. Nothing is written when a value is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lims.cli.common import (
    CliError,
    PasswordOpt,
    UserOpt,
    console,
    read_password,
    session_user,
    settings,
)
from lims.services.customer_accounts import (
    create_account,
    deactivate_account,
    issue_token,
    list_accounts,
    list_customers,
    list_tokens,
    reset_password,
    revoke_token,
    unlock_account,
)
from lims.services.lab import policy_from

portal_app = typer.Typer(help="The verification and customer portal (web).", no_args_is_help=True)
customers_app = typer.Typer(
    help="Customers: their portal accounts and API tokens (administrator).", no_args_is_help=True
)
account_app = typer.Typer(help="Customers' portal accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens of customers' portal accounts.", no_args_is_help=True)
customers_app.add_typer(account_app, name="account")
customers_app.add_typer(token_app, name="token")

ReasonOpt = Annotated[str, typer.Option(help="Why (recorded in the audit trail).")]


def register(app: typer.Typer) -> None:
    """Add ``lims portal`` and ``lims customers`` to the command line."""
    app.add_typer(portal_app, name="portal")
    app.add_typer(customers_app, name="customers")


@portal_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8080,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="Served over TLS by the reverse proxy: Secure cookies and HSTS "
            "(default: LIMS_PORTAL_SECURE_COOKIES).",
        ),
    ] = None,
    trusted_proxy: Annotated[
        str,
        typer.Option(help="Address(es) of the reverse proxy whose X-Forwarded-For is believed."),
    ] = "127.0.0.1",
    status_list: Annotated[
        Path | None,
        typer.Option(
            help="The signed status list to publish (default: <data dir>/status-list.json)."
        ),
    ] = None,
    max_upload_mib: Annotated[
        int, typer.Option(help="Largest certificate file accepted for checking.", min=1, max=100)
    ] = 10,
) -> None:
    """Serve the verification page and the customer portal (Ctrl-C stops it)."""
    from lims.portal.config import PortalConfig
    from lims.portal.server import database_problem, run

    s = settings()
    config = PortalConfig.from_settings(
        s,
        policy_from(s),
        secure_cookies=secure_cookies,
        status_list_file=status_list,
        max_upload_bytes=max_upload_mib * 1024 * 1024,
    )
    problem = database_problem(config)
    if problem is not None:
        raise CliError(problem, exit_code=3)
    console.print(
        f"portal on http://{host}:{port}/ (database {s.redacted_url()}, read-only); "
        "Ctrl-C stops it",
        highlight=False,
    )
    run(config, host=host, port=port, trusted_proxies=trusted_proxy)


@customers_app.command("list")
def customers_list(user: UserOpt, password_file: PasswordOpt = None) -> None:
    """The lab's customers and their ids (for ``lims customers account add --customer``)."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            rows = list_customers(s, actor)
    finally:
        db.dispose()
    for cid, name in rows:
        console.print(f"{cid:>6}  {name}", highlight=False)


@account_app.command("add")
def account_add(
    username: Annotated[str, typer.Argument(help="The customer's account name.")],
    customer: Annotated[int, typer.Option(help="Customer id (lims customers list).")],
    name: Annotated[str, typer.Option(help="The account holder's name.")],
    account_password_file: Annotated[
        Path, typer.Option(help="File whose first line is the account's initial password.")
    ],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Open a portal account for a customer (administrator)."""
    new_password = read_password(account_password_file)
    s = settings()
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"customer account {username} created") as session:
            info = create_account(
                session, actor, customer, username, name, new_password, policy_from(s)
            )
    finally:
        db.dispose()
    console.print(f"created {info.username} for {info.customer_name}", highlight=False)


@account_app.command("list")
def account_list(user: UserOpt, password_file: PasswordOpt = None) -> None:
    """Every customer account with its state (administrators, quality managers)."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as session:
            accounts = list_accounts(session, actor)
    finally:
        db.dispose()
    for a in accounts:
        state = (
            "locked"
            if a.locked_at is not None
            else ("deactivated" if not a.active else f"active, {a.failed_logins} failed")
        )
        console.print(
            f"{a.username:<20} {a.display_name:<16} {state:<18} {a.customer_name}",
            highlight=False,
        )


@account_app.command("unlock")
def account_unlock(
    username: Annotated[str, typer.Argument(help="The locked account.")],
    reason: ReasonOpt,
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Unlock an account locked after repeated failed logins (administrator)."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as session:
            unlock_account(session, actor, username)
    finally:
        db.dispose()
    console.print(f"unlocked {username}", highlight=False)


@account_app.command("deactivate")
def account_deactivate(
    username: Annotated[str, typer.Argument(help="The account.")],
    reason: ReasonOpt,
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Deactivate an account; it can no longer log in and its tokens stop working."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as session:
            deactivate_account(session, actor, username)
    finally:
        db.dispose()
    console.print(f"deactivated {username}", highlight=False)


@account_app.command("reset-password")
def account_reset_password(
    username: Annotated[str, typer.Argument(help="The account.")],
    account_password_file: Annotated[
        Path, typer.Option(help="File whose first line is the account's new password.")
    ],
    reason: ReasonOpt,
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Give an account a new password (administrator)."""
    new_password = read_password(account_password_file)
    s = settings()
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as session:
            reset_password(session, actor, username, new_password, policy_from(s))
    finally:
        db.dispose()
    console.print(f"new password set for {username}", highlight=False)


@token_app.command("issue")
def token_issue(
    username: Annotated[str, typer.Argument(help="The customer account.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Issue an API token; it is printed once and only its hash is kept."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"API token for {username}") as session:
            token = issue_token(session, actor, username, label)
    finally:
        db.dispose()
    console.print(f"token {token.id} for {username} (shown once, keep it secret):", highlight=False)
    console.print(token.secret, highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list(
    user: UserOpt,
    password_file: PasswordOpt = None,
    account: Annotated[str | None, typer.Option(help="Only this account's tokens.")] = None,
) -> None:
    """API tokens: id, account, prefix, label, revoked or not."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as session:
            tokens = list_tokens(session, actor, account)
    finally:
        db.dispose()
    for t in tokens:
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        console.print(
            f"{t.id:>5}  {t.username:<20} {t.prefix}…  {state:<18} {t.label}", highlight=False
        )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (lims customers token list).")],
    reason: ReasonOpt,
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Revoke an API token for good (administrator)."""
    if not reason.strip():
        raise CliError("--reason: say why the token is revoked")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as session:
            revoke_token(session, actor, token_id)
    finally:
        db.dispose()
    console.print(f"revoked token {token_id}", highlight=False)
