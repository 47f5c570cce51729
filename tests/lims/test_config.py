"""Settings: precedence env > file > default; secrets hidden; bad settings refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from lims.config import ConfigError, default_data_dir, load_settings, sqlite_url_for
from tests.lims._cli import clean_env, one_error_line, run_main, run_script


def test_defaults(tmp_path: Path) -> None:
    s = load_settings({})
    assert s.data_dir == default_data_dir()
    assert s.database_url == sqlite_url_for(default_data_dir())
    assert s.lockout_threshold == 5
    assert s.sources["database_url"] == "default"


def test_precedence_env_over_file_over_default(tmp_path: Path) -> None:
    cfg = tmp_path / "lims.toml"
    file_dir = tmp_path / "from-file"
    cfg.write_text(
        f'[lims]\ndata_dir = "{file_dir}"\n'
        'database_url = "postgresql+psycopg://lab@db.example:5432/labfile"\n'
        "lockout_threshold = 3\n",
        encoding="utf-8",
    )
    from_file = load_settings({"LIMS_CONFIG": str(cfg)})
    assert from_file.data_dir == file_dir
    assert from_file.url.database == "labfile"
    assert from_file.lockout_threshold == 3
    assert from_file.sources == {"data_dir": str(cfg), "database_url": str(cfg)}
    env_dir = tmp_path / "from-env"
    from_env = load_settings(
        {
            "LIMS_CONFIG": str(cfg),
            "LIMS_DATA_DIR": str(env_dir),
            "LIMS_DATABASE_URL": "postgresql://lab@db.example/labenv",
        }
    )
    assert from_env.data_dir == env_dir
    assert from_env.url.database == "labenv"
    assert from_env.lockout_threshold == 3  # no env variable for it: the file's value stands
    assert from_env.sources == {"data_dir": "LIMS_DATA_DIR", "database_url": "LIMS_DATABASE_URL"}


def test_settings_file_in_data_dir_is_found(tmp_path: Path) -> None:
    (tmp_path / "lims.toml").write_text("password_min_length = 14\n", encoding="utf-8")
    s = load_settings({"LIMS_DATA_DIR": str(tmp_path)})
    assert s.password_min_length == 14
    assert s.config_file == tmp_path / "lims.toml"
    assert s.database_url == sqlite_url_for(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("lockout_threshold = \n", "TOML syntax error"),
        ("colour = 'blue'\n", "unknown setting 'colour'"),
        ("lockout_threshold = -1\n", "lockout_threshold must be a non-negative integer"),
        ("database_url = 'mysql://x@y/z'\n", "unsupported database 'mysql'"),
        ("database_url = 'notaurl'\n", "malformed database URL"),
        ("database_url = 'postgresql+asyncpg://lab@db'\n", "names no database"),
    ],
)
def test_bad_settings_file(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "lims.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as exc:
        load_settings({"LIMS_DATA_DIR": str(tmp_path)})
    assert str(tmp_path / "lims.toml") in str(exc.value)


def test_config_show_hides_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = clean_env(tmp_path, LIMS_DATABASE_URL="postgresql+psycopg://lab:s3cr3t-pw@db:5432/lims")
    r = run_main(["config", "show"], env, monkeypatch, capsys)
    assert r.code == 0, r.err
    assert "s3cr3t-pw" not in r.out + r.err
    assert "database_url = postgresql+psycopg://lab:***@db:5432/lims" in r.out
    assert f"data_dir = {tmp_path}" in r.out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("toml", "url", "message"),
    [
        ("[lims\n", None, "TOML syntax error"),
        ("colour = 'blue'\n", None, "unknown setting 'colour'"),
        (None, "notaurl", "LIMS_DATABASE_URL: malformed database URL 'notaurl'"),
    ],
)
def test_cli_refuses_bad_settings_in_one_line_and_writes_nothing(
    tmp_path: Path, toml: str | None, url: str | None, message: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if toml is not None:
        (data / "lims.toml").write_text(toml, encoding="utf-8")
    extra = {"LIMS_DATABASE_URL": url} if url else {}
    before = sorted(p.name for p in data.iterdir())
    r = run_script(["init", "--demo"], clean_env(data, **extra))
    line = one_error_line(r)
    assert message in line
    assert sorted(p.name for p in data.iterdir()) == before  # no database file created
