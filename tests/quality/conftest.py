"""Quality tests create many users: a cheap argon2 cost keeps them fast (same algorithm)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

import lims.security


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        lims.security, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
