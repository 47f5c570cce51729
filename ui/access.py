"""Whether the signed-in user may use a view or an action, decided by the permission matrix.

The rules live in :mod:`lims.quality.permissions` (the services check the same ones); this
module only asks them and words the answer for a tooltip: why a tab or a button is
disabled, in the current language.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from PySide6.QtWidgets import QAbstractButton, QWidget

from lims.models.enums import Role
from lims.models.users import User
from lims.quality.permissions import Permission, account_problem, permissions_of
from ui.i18n import tr


def role_text(role: Role) -> str:
    """A role's name in the current language."""
    return tr(f"role.{role.value}")


def roles_text(user: User) -> str:
    """The user's roles in the current language, comma separated."""
    return ", ".join(role_text(r) for r in sorted(user.role_set)) or tr("role.none")


def refusal(
    user: User | None, needed: Iterable[Permission], today: date | None = None
) -> str | None:
    """None when ``user`` holds one of ``needed`` today; otherwise why not (for a tooltip)."""
    wanted = list(needed)
    if user is None:
        return tr("access.signed_out")
    if account_problem(user, today) is not None:
        return tr("access.account")
    if not wanted or permissions_of(user) & set(wanted):
        return None
    names = " / ".join(tr(f"perm.{p.value}") for p in wanted)
    return f"{tr('access.needs')}: {names} · {tr('access.your_roles')}: {roles_text(user)}"


def gate(widget: QWidget, reason: str | None, *, enabled: bool = True) -> None:
    """Enable ``widget`` when allowed (and ``enabled``), else disable it with the reason shown."""
    widget.setEnabled(reason is None and enabled)
    base = widget.property("base_tooltip") or ""
    widget.setToolTip(reason if reason is not None else str(base))


def gate_button(button: QAbstractButton, user: User | None, *needed: Permission) -> bool:
    """Gate an action's button by the permissions it needs; True when allowed."""
    reason = refusal(user, needed)
    gate(button, reason)
    return reason is None
