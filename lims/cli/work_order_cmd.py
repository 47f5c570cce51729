"""``lims work-order``: the board of open work (paged), deliver, cancel."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from lims.cli.common import CliError, PasswordOpt, UserOpt, console, session_user
from lims.messages import bilingual
from lims.models.enums import WorkOrderStatus
from lims.services.work_order_board import DEFAULT_PAGE_SIZE, BoardFilter, board_page
from lims.services.work_order_status import OPEN_STATES, cancel, deliver

app = typer.Typer(
    help="Work orders / 委托单: the board of open work, deliver, cancel.", no_args_is_help=True
)


@app.command("list")
def list_work_orders(
    user: UserOpt,
    password_file: PasswordOpt = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only this state (repeatable; default: the open ones)."),
    ] = None,
    all_states: Annotated[bool, typer.Option("--all", help="Every state, closed too.")] = False,
    customer: Annotated[str, typer.Option(help="Part of the customer's name.")] = "",
    number: Annotated[str, typer.Option(help="Part of the work-order number.")] = "",
    overdue: Annotated[bool, typer.Option("--overdue", help="Only those past due.")] = False,
    page: Annotated[int, typer.Option(min=1, help="Page number (1 is the newest).")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = DEFAULT_PAGE_SIZE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the page as JSON.")] = False,
) -> None:
    """One page of the work-order board, newest received first."""
    states: tuple[WorkOrderStatus, ...] = OPEN_STATES
    if all_states:
        states = ()
    elif status:
        known = {s.value: s for s in WorkOrderStatus}
        bad = [x for x in status if x not in known]
        if bad:
            raise CliError(f"--status: {', '.join(bad)} unknown; one of {', '.join(known)}")
        states = tuple(known[x] for x in status)
    filters = BoardFilter(
        states=states,
        customer=customer,
        number=number,
        due_before=date.today() if overdue else None,
    )
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            result = board_page(s, actor, filters, offset=(page - 1) * page_size, limit=page_size)
    finally:
        db.dispose()
    if as_json:
        out = {
            "page": page,
            "page_size": page_size,
            "total": result.total,
            "work_orders": [
                {
                    "number": r.number,
                    "customer": r.customer,
                    "received_on": r.received_on.isoformat(),
                    "due_on": r.due_on.isoformat() if r.due_on else None,
                    "status": r.status.value,
                    "items": [
                        {
                            "item_id": i.item_id,
                            "description": i.description,
                            "model": i.model,
                            "serial_number": i.serial_number,
                            "procedure_id": i.procedure_id,
                            "status": i.status.value,
                        }
                        for i in r.items
                    ],
                }
                for r in result.rows
            ],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for r in result.rows:
        due = r.due_on.isoformat() if r.due_on else "—"
        console.print(
            f"{r.number:<14} {r.status.value:<12} {r.received_on.isoformat()}  due {due:<10}  "
            f"{len(r.items)} item(s)  {r.customer}",
            highlight=False,
            markup=False,
        )
    first = result.offset + 1 if result.rows else 0
    console.print(
        bilingual(
            "wo.page", first=first, last=result.offset + len(result.rows), total=result.total
        ),
        highlight=False,
    )


@app.command("deliver")
def deliver_work_order(
    number: Annotated[str, typer.Argument(help="Work-order number, e.g. WO2026-0001.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Record that a certified work order's instruments and certificates went back."""
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"work order {number} delivered") as s:
            wo = deliver(s, actor, number)
            done = wo.number
    finally:
        db.dispose()
    console.print(bilingual("wo.delivered", number=done), highlight=False)


@app.command("cancel")
def cancel_work_order(
    number: Annotated[str, typer.Argument(help="Work-order number, e.g. WO2026-0001.")],
    reason: Annotated[str, typer.Option(help="Why it is cancelled (kept and audited).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Cancel a work order that is not delivered yet, with a reason."""
    if not reason.strip():
        raise CliError(f"--reason: {bilingual('wo.cancel_reason')}")
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=f"work order {number} cancelled: {reason}") as s:
            wo = cancel(s, actor, number, reason)
            done = wo.number
    finally:
        db.dispose()
    console.print(bilingual("wo.cancelled", number=done, reason=reason.strip()), highlight=False)
