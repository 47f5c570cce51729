"""Where the application finds its bench files (light: imported at start-up)."""

from __future__ import annotations

from pathlib import Path

#: Where the bench files shipped with the application live.
EXAMPLE_BENCHES = Path(__file__).resolve().parents[1] / "examples" / "benches"


def bench_files(folder: Path = EXAMPLE_BENCHES) -> list[Path]:
    """The bench files in ``folder``."""
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []
