"""Application settings: one object read from a TOML file and environment variables.

Precedence (highest first): environment variables ``LIMS_DATABASE_URL``,
``LIMS_DATA_DIR``, ``LIMS_ANCHOR_COPY``, ``LIMS_TSA_URL`` and
``LIMS_VERIFICATION_BASE_URL``; the settings file; defaults. The settings file is
``$LIMS_CONFIG`` if set, else ``<data dir>/lims.toml`` when it exists.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

APP_NAME = "carbon-lims"
_KNOWN_KEYS = {
    "database_url",
    "data_dir",
    "sqlite_busy_timeout_ms",
    "password_min_length",
    "password_max_age_days",
    "lockout_threshold",
    "due_warning_days",
    "low_stock_percent",
    "anchor_copy",
    "log_level",
    "cmc_rule",
    "tsa_url",
    "verification_base_url",
    "cli_session_minutes",
}
#: Where certificates' QR codes point when no verification address is configured.
DEFAULT_VERIFICATION_BASE_URL = "http://127.0.0.1:8080"


class ConfigError(Exception):
    """Settings that cannot be used; the message names the file or variable and the key."""


@dataclass(frozen=True)
class Settings:
    """Effective settings of one process."""

    data_dir: Path
    database_url: str
    config_file: Path | None = None
    sqlite_busy_timeout_ms: int = 10_000
    password_min_length: int = 10
    password_max_age_days: int = 180
    lockout_threshold: int = 5
    #: Standards, checks and reference materials due within this many days are flagged.
    due_warning_days: int = 30
    #: A reference material is low when less than this many percent above its minimum is left.
    low_stock_percent: int = 50
    #: A second file the audit anchors are appended to (another volume, a mounted share).
    anchor_copy: Path | None = None
    #: How much the application logs to ``log_file``: DEBUG, INFO, WARNING or ERROR.
    log_level: str = "INFO"
    #: What a reported U below the accreditation scope's CMC leads to when a certificate is
    #: drafted: "raise" (U printed as the CMC) or "refuse" (no draft); "" follows the
    #: released scope's own ``below_cmc``.
    cmc_rule: str = ""
    #: An external RFC 3161 time-stamping authority; unset: the lab's own TSA (``lims keys tsa``).
    tsa_url: str | None = None
    #: The lab's public verification address (the portal): QR codes carry ``<this>/v/<number>``.
    verification_base_url: str = DEFAULT_VERIFICATION_BASE_URL
    #: How long a command-line session (``lims login``) lasts; 0: no sessions, every command
    #: asks for the password.
    cli_session_minutes: int = 30
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> URL:
        """The database URL parsed by SQLAlchemy."""
        return make_url(self.database_url)

    @property
    def archive_dir(self) -> Path:
        """Where issued files (PDF, DCC, standards' certificates) are stored by content hash."""
        return self.data_dir / "archive"

    @property
    def anchor_file(self) -> Path:
        """This installation's file of audit-chain anchors (see :mod:`lims.audit_anchors`)."""
        return self.data_dir / "audit-anchors.jsonl"

    @property
    def anchor_copies(self) -> tuple[Path, ...]:
        """The configured second anchor destination, if any."""
        return (self.anchor_copy,) if self.anchor_copy is not None else ()

    @property
    def log_file(self) -> Path:
        """Where the command line logs diagnostics (tracebacks of unexpected failures)."""
        return self.data_dir / "logs" / "lims.log"

    @property
    def sessions_dir(self) -> Path:
        """Where ``lims login`` keeps each lab user's session token (readable by the OS user
        only)."""
        return self.data_dir / "sessions"

    @property
    def keys_dir(self) -> Path:
        """Where the lab CA and the users' PKCS#12 key files live."""
        return self.data_dir / "keys"

    def redacted_url(self) -> str:
        """The database URL with any password hidden."""
        return self.url.render_as_string(hide_password=True)

    def as_display(self) -> dict[str, str]:
        """Settings as strings for ``lims config show`` (no secrets)."""
        return {
            "data_dir": str(self.data_dir),
            "database_url": self.redacted_url(),
            "config_file": str(self.config_file) if self.config_file else "(none)",
            "sqlite_busy_timeout_ms": str(self.sqlite_busy_timeout_ms),
            "password_min_length": str(self.password_min_length),
            "password_max_age_days": str(self.password_max_age_days),
            "lockout_threshold": str(self.lockout_threshold),
            "due_warning_days": str(self.due_warning_days),
            "low_stock_percent": str(self.low_stock_percent),
            "anchor_copy": str(self.anchor_copy) if self.anchor_copy else "(none)",
            "log_level": self.log_level,
            "cmc_rule": self.cmc_rule or "(the scope's below_cmc)",
            "tsa_url": self.tsa_url or "(the lab's own TSA)",
            "verification_base_url": self.verification_base_url,
            "cli_session_minutes": str(self.cli_session_minutes),
        }


def default_data_dir() -> Path:
    """The per-user data directory (platformdirs)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def sqlite_url_for(data_dir: Path) -> str:
    """The default embedded database in a data directory."""
    return f"sqlite:///{(data_dir / 'lims.sqlite3').resolve()}"


def validate_database_url(url: str, where: str) -> str:
    """Return ``url`` if SQLAlchemy understands it and we support its backend."""
    shown = _without_password(url)
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (a port that is not a number fails here, not at connect time)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"{where}: malformed database URL {shown!r}; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise ConfigError(
            f"{where}: unsupported database {backend!r}; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        )
    if backend == "postgresql" and not parsed.database:
        raise ConfigError(f"{where}: database URL {shown!r} names no database")
    if backend == "postgresql" and parsed.get_driver_name() not in {"psycopg", "psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    return url


def _without_password(url: str) -> str:
    """``url`` with the password of ``user:password@`` hidden, even when it does not parse."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _at, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read settings file: {exc.strerror}") from exc
    section = data.get("lims", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [lims] must be a table")
    unknown = sorted(set(section) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    return section


def _int_setting(raw: dict[str, Any], key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: {key} must be a non-negative integer, got {value!r}")
    return value


#: The longest command-line session a lab may configure (one working day).
MAX_CLI_SESSION_MINUTES = 24 * 60


def _session_minutes(raw: dict[str, Any], where: str) -> int:
    minutes = _int_setting(raw, "cli_session_minutes", 30, where)
    if minutes > MAX_CLI_SESSION_MINUTES:
        raise ConfigError(
            f"{where}: cli_session_minutes must be at most {MAX_CLI_SESSION_MINUTES} "
            f"(one day), got {minutes}"
        )
    return minutes


def _url_setting(
    raw: dict[str, Any],
    env: dict[str, str],
    key: str,
    variable: str,
    config_file: Path | None,
    sources: dict[str, str],
) -> str | None:
    """An http(s) address from the environment or the settings file (None when unset)."""
    value: object = None
    where = ""
    if key in raw:
        value, where = raw[key], f"{config_file}: {key}"
    if env.get(variable):
        value, where = env[variable], variable
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
        raise ConfigError(f"{where}: {value!r} is not an http:// or https:// address")
    sources[key] = variable if where == variable else str(config_file)
    return text


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build the effective settings from the environment and the settings file."""
    env = dict(os.environ) if env is None else env
    sources: dict[str, str] = {}
    data_dir = default_data_dir()
    sources["data_dir"] = "default"
    if env.get("LIMS_DATA_DIR"):
        data_dir = Path(env["LIMS_DATA_DIR"]).expanduser()
        sources["data_dir"] = "LIMS_DATA_DIR"

    config_file: Path | None = None
    raw: dict[str, Any] = {}
    if env.get("LIMS_CONFIG"):
        config_file = Path(env["LIMS_CONFIG"]).expanduser()
        if not config_file.is_file():
            raise ConfigError(f"LIMS_CONFIG: settings file {config_file} does not exist")
    elif (data_dir / "lims.toml").is_file():
        config_file = data_dir / "lims.toml"
    if config_file is not None:
        raw = _read_toml(config_file)
        if "data_dir" in raw and "LIMS_DATA_DIR" not in sources.values():
            if not isinstance(raw["data_dir"], str):
                raise ConfigError(f"{config_file}: data_dir must be a string")
            data_dir = Path(raw["data_dir"]).expanduser()
            sources["data_dir"] = str(config_file)

    where = str(config_file) if config_file else "settings"
    database_url = sqlite_url_for(data_dir)
    sources["database_url"] = "default"
    if "database_url" in raw:
        if not isinstance(raw["database_url"], str):
            raise ConfigError(f"{config_file}: database_url must be a string")
        database_url = validate_database_url(raw["database_url"], f"{config_file}: database_url")
        sources["database_url"] = str(config_file)
    if env.get("LIMS_DATABASE_URL"):
        database_url = validate_database_url(env["LIMS_DATABASE_URL"], "LIMS_DATABASE_URL")
        sources["database_url"] = "LIMS_DATABASE_URL"

    anchor_copy: Path | None = None
    if "anchor_copy" in raw:
        if not isinstance(raw["anchor_copy"], str) or not raw["anchor_copy"].strip():
            raise ConfigError(f"{config_file}: anchor_copy must be the path of a file")
        anchor_copy = Path(raw["anchor_copy"]).expanduser()
        sources["anchor_copy"] = str(config_file)
    if env.get("LIMS_ANCHOR_COPY"):
        anchor_copy = Path(env["LIMS_ANCHOR_COPY"]).expanduser()
        sources["anchor_copy"] = "LIMS_ANCHOR_COPY"
    log_level = "INFO"
    if "log_level" in raw:
        log_level, sources["log_level"] = str(raw["log_level"]), str(config_file)
    if env.get("LIMS_LOG_LEVEL"):
        log_level, sources["log_level"] = env["LIMS_LOG_LEVEL"], "LIMS_LOG_LEVEL"
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"{sources['log_level']}: log_level {log_level!r}: use DEBUG, INFO, WARNING or ERROR"
        )

    cmc_rule = raw.get("cmc_rule", "")
    if cmc_rule not in ("", "raise", "refuse"):
        raise ConfigError(f'{where}: cmc_rule must be "raise" or "refuse", got {cmc_rule!r}')
    if "cmc_rule" in raw:
        sources["cmc_rule"] = where

    tsa_url = _url_setting(raw, env, "tsa_url", "LIMS_TSA_URL", config_file, sources)
    base_url = _url_setting(
        raw, env, "verification_base_url", "LIMS_VERIFICATION_BASE_URL", config_file, sources
    )
    settings = Settings(
        data_dir=data_dir,
        cmc_rule=cmc_rule,
        tsa_url=tsa_url,
        verification_base_url=(base_url or DEFAULT_VERIFICATION_BASE_URL).rstrip("/"),
        database_url=database_url,
        config_file=config_file,
        anchor_copy=anchor_copy,
        log_level=log_level.upper(),
        sources=sources,
    )
    return replace(
        settings,
        sqlite_busy_timeout_ms=_int_setting(raw, "sqlite_busy_timeout_ms", 10_000, where),
        password_min_length=_int_setting(raw, "password_min_length", 10, where),
        password_max_age_days=_int_setting(raw, "password_max_age_days", 180, where),
        lockout_threshold=_int_setting(raw, "lockout_threshold", 5, where),
        due_warning_days=_int_setting(raw, "due_warning_days", 30, where),
        low_stock_percent=_int_setting(raw, "low_stock_percent", 50, where),
        cli_session_minutes=_session_minutes(raw, where),
    )
