"""What every view shares: the database, the settings, the signed-in user, the runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from lims.config import Settings
from lims.db import Database
from lims.models.users import User
from lims.security import PasswordPolicy
from lims.services.lab import policy_from
from ui.worker import Runner


@dataclass
class AppContext:
    """Shared state of one application window (the user is detached from any session)."""

    db: Database
    settings: Settings
    runner: Runner
    user: User | None = None
    today: Callable[[], date] = field(default=date.today)

    @property
    def policy(self) -> PasswordPolicy:
        """The configured password policy."""
        return policy_from(self.settings)

    @property
    def ui_settings_file(self) -> Path:
        """Where the window layout and the language are remembered (in the data dir)."""
        return self.settings.data_dir / "ui.ini"

    @property
    def actor(self) -> User:
        """The signed-in user (a view is only shown after login)."""
        if self.user is None:
            raise RuntimeError("no user is signed in")
        return self.user
