"""Bench files as the desktop and the command line see them: their names and the prompts a
simulated bench answers itself. The core reads bench files for its front ends, so the GUI
never reaches into the drivers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from drivers.bench import BenchConfig, load_bench

__all__ = ["BenchConfig", "BenchListing", "auto_answered", "bench_file_named", "list_benches"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchListing:
    """One bench file: the name it gives its bench (its file name when it cannot be read)."""

    name: str
    path: Path
    readable: bool


def list_benches(paths: Iterable[Path]) -> list[BenchListing]:
    """The benches in ``paths``; a file that cannot be read is listed by its file name (the
    preflight then names its problem)."""
    out = []
    for p in paths:
        try:
            out.append(BenchListing(load_bench(p).name, p, True))
        except Exception as exc:  # any problem of the file is the preflight's to report
            log.info("bench file %s cannot be read: %s", p, exc)
            out.append(BenchListing(p.name, p, False))
    return out


def bench_file_named(paths: Iterable[Path], name: str) -> Path | None:
    """The file among ``paths`` whose bench is called ``name``."""
    return next((b.path for b in list_benches(paths) if b.readable and b.name == name), None)


def auto_answered(bench_path: Path) -> frozenset[str]:
    """The prompts a simulated bench answers itself (its file's ``[auto]`` table)."""
    return frozenset(load_bench(bench_path).auto)
