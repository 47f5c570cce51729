"""The portal's building blocks on their own: rate limits, sessions, CSRF tokens, masking,
read-only URLs (no database, no server)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from lims.db.readonly import read_only_url
from lims.portal.config import RateLimit
from lims.portal.protection import CsrfSigner, RateLimiter, SessionStore
from lims.services.public_verification import mask_name, mask_serial


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_is_a_sliding_window_per_key() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(3, 10.0), clock)
    for t in (0.0, 1.0, 2.0):
        clock.now = 1000.0 + t
        assert limiter.hit("a") is None
    clock.now = 1003.0
    assert limiter.hit("a") == pytest.approx(7.0)  # the first hit leaves the window at 1010
    assert limiter.hit("b") is None  # another client is not affected
    clock.now = 1010.0
    assert limiter.hit("a") is None
    assert RateLimiter(RateLimit(0)).hit("a") is None  # 0 turns the limit off


def test_rate_parsing_names_the_bad_setting() -> None:
    assert RateLimit.parse("10/minute", "X") == RateLimit(10, 60.0)
    assert RateLimit.parse("5/30", "X") == RateLimit(5, 30.0)
    assert not RateLimit.parse("0", "X").enabled
    for bad in ("lots", "10/fortnight", "-1/60", "10/0"):
        with pytest.raises(Exception, match="LIMS_PORTAL_LOGIN_RATE"):
            RateLimit.parse(bad, "LIMS_PORTAL_LOGIN_RATE")


def test_sessions_expire_when_idle_and_at_their_maximum_age() -> None:
    clock = Clock()
    store = SessionStore(idle_seconds=60, max_seconds=300, clock=clock)
    sid = store.create(7)
    assert sid != store.create(7)  # a fresh id at every login
    for _ in range(4):
        clock.now += 59
        session = store.get(sid)
        assert session is not None
        assert session.account_id == 7
    clock.now += 61
    assert store.get(sid) is None  # idle too long
    sid = store.create(7)
    for _ in range(5):
        clock.now += 59
        assert store.get(sid) is not None
    clock.now += 59
    assert store.get(sid) is None  # 354 s after login: past the maximum even though active
    assert store.get("forged") is None
    assert store.get(None) is None


def test_csrf_tokens_are_this_processes_and_must_match_the_cookie() -> None:
    signer, other = CsrfSigner(), CsrfSigner()
    token = signer.new()
    assert signer.valid(token)
    assert not other.valid(token)
    nonce, mac = token.split(".")
    assert not signer.valid(f"{nonce}x.{mac}")
    assert not signer.valid(f"{nonce}.{'0' * len(mac)}")
    assert signer.matches(token, token)
    assert not signer.matches(token, signer.new())
    assert not signer.matches(None, token)
    assert not signer.valid("a.b.c")
    assert not signer.valid("x" * 200)


def test_masking_keeps_only_the_ends() -> None:
    assert mask_name("华北电力检测有限公司 North China Power") == "华北***公司 N*** C*** P***"
    assert mask_name("中化 Sinochem") == "中*** S***"
    assert mask_serial("CA2000-0001") == "*******0001"
    assert mask_serial("A12") == "***"


def test_read_only_urls() -> None:
    sqlite = read_only_url("sqlite:////srv/lims data/lims.sqlite3")
    assert sqlite.database == "file:/srv/lims%20data/lims.sqlite3"
    assert sqlite.query == {"mode": "ro", "uri": "true"}
    pg = read_only_url("postgresql+psycopg://ro@db/lims?options=-csearch_path%3Dlab")
    assert pg.query["options"] == "-csearch_path=lab -c default_transaction_read_only=on"
    assert make_url(pg).username == "ro"
    with pytest.raises(ValueError, match="in-memory"):
        read_only_url("sqlite://")
