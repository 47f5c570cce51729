"""Fixtures: one simulated bench with every driver, served on loopback for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.bench import BenchConfig, load_bench, open_instruments
from drivers.sim import SimulatedBench

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def bench() -> BenchConfig:
    return load_bench(DATA / "all-instruments.toml")


@pytest.fixture(scope="module")
def sim(bench: BenchConfig) -> Iterator[SimulatedBench]:
    with SimulatedBench(bench) as s:
        yield s


@pytest.fixture(scope="module")
def inst(bench: BenchConfig, sim: SimulatedBench) -> Iterator[dict[str, Any]]:
    drivers = open_instruments(bench, sim.addresses)
    yield drivers
    for d in drivers.values():
        d.close()
