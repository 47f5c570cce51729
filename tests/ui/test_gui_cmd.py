"""``lims gui`` is a command of the CLI, and the CLI does not import Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lims.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def test_gui_command_is_registered() -> None:
    result = CliRunner().invoke(app, ["gui", "--help"])
    assert result.exit_code == 0, result.output
    assert "desktop application" in result.output


def test_cli_does_not_import_qt() -> None:
    code = (
        "import sys, lims.cli.main\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'ui', 'pyqtgraph')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout


def test_display_detection() -> None:
    from lims.cli.gui_cmd import display_available

    assert not display_available({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"})
    if sys.platform.startswith("linux"):
        assert display_available({"DISPLAY": ":0"})
        assert display_available({"WAYLAND_DISPLAY": "wayland-0"})
        assert not display_available({})


def test_open_gui_runs_the_application_on_the_given_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ui.app
    from lims.cli.gui_cmd import open_gui
    from lims.config import Settings, sqlite_url_for

    seen: list[Settings | None] = []
    monkeypatch.setattr(ui.app, "main", lambda settings=None: seen.append(settings) or 7)
    demo = Settings(data_dir=tmp_path, database_url=sqlite_url_for(tmp_path))
    assert open_gui(demo) == 7
    assert seen == [demo]


def test_demo_opens_the_gui_on_the_demo_lab_when_a_display_is_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lims.cli.gui_cmd as gui_cmd
    from lims.config import Settings
    from tests.lims._cli import run_main

    opened: list[Settings] = []

    def fake_open(settings: Settings | None = None) -> int:
        assert settings is not None
        opened.append(settings)
        return 0

    monkeypatch.setattr(gui_cmd, "display_available", lambda env=None: True)
    monkeypatch.setattr(gui_cmd, "open_gui", fake_open)
    target = tmp_path / "demo"
    r = run_main(["demo", "--data-dir", str(target)], {}, monkeypatch, capsys)
    assert r.code == 0, r.err
    assert [s.data_dir for s in opened] == [target]
    assert (target / "lims.sqlite3").is_file()
    assert "issued certificates" not in r.out  # the runs are done in the application


@pytest.mark.parametrize("where", ["missing", "empty file"])
def test_the_app_on_a_place_without_a_lab_says_so_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    import ui.app
    from lims.config import Settings, sqlite_url_for

    data = tmp_path / "nowhere"
    if where == "empty file":
        data.mkdir()
        (data / "lims.sqlite3").write_bytes(b"")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    said: list[tuple[str, str]] = []
    monkeypatch.setattr(
        ui.app.QMessageBox, "critical", lambda _parent, title, text: said.append((title, text))
    )
    settings = Settings(data_dir=data, database_url=sqlite_url_for(data))
    assert ui.app.main([], settings) == 2
    ((title, text),) = said
    assert "此处没有实验室" in title or "No lab here" in title
    assert "lims.sqlite3" in text or "no lab in" in text
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
