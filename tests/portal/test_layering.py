"""The portal is a front end: the core never imports it, and it builds no SQL of its own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports(path: Path) -> set[str]:
    """Every module a file imports (lazy imports inside functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_core_never_imports_the_portal() -> None:
    front_ends = {ROOT / "lims" / "portal", ROOT / "lims" / "cli"}
    for path in (ROOT / "lims").rglob("*.py"):
        if any(front in path.parents for front in front_ends):
            continue
        bad = {m for m in imports(path) if m == "lims.portal" or m.startswith("lims.portal.")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_portal_reads_through_services_only() -> None:
    for path in (ROOT / "lims" / "portal").rglob("*.py"):
        modules = imports(path)
        direct = {m for m in modules if m.split(".")[0] in {"sqlalchemy", "ui", "PySide6"}}
        direct |= {m for m in modules if m.startswith(("lims.models", "lims.cli"))}
        assert not direct, f"{path.relative_to(ROOT)} imports {direct}"
