"""``lims gui`` is a command of the CLI, and the CLI does not import Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
