"""Running `lims`: in-process through `main()` or as the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lims.cli.main import main

LIMS = Path(sys.executable).with_name("lims")


@dataclass(frozen=True)
class Outcome:
    """Exit status and output of one command."""

    code: int
    out: str
    err: str


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a command: LIMS_* cleared, the data directory set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIMS_")}
    env.update({"LIMS_DATA_DIR": str(data_dir), "COLUMNS": "200", **extra})
    return env


def run_script(args: list[str], env: dict[str, str]) -> Outcome:
    """Run the installed console script ``lims`` in a subprocess."""
    p = subprocess.run([str(LIMS), *args], env=env, capture_output=True, text=True, timeout=120)
    return Outcome(p.returncode, p.stdout, p.stderr)


def run_main(
    args: list[str],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Outcome:
    """Run ``lims.cli.main.main()`` in this process with ``args`` and ``env``."""
    for key in [k for k in os.environ if k.startswith("LIMS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("LIMS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["lims", *args])
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def one_error_line(outcome: Outcome) -> str:
    """The single error line of a failed command (asserts there is exactly one)."""
    assert outcome.code != 0
    lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in outcome.err
    return lines[0]
