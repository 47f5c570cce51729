"""Subprocess for the SIGKILL test: runs the sample procedure and prints acknowledgements.

Usage: python -m tests.engine.kill_target DB_URL TIME_SCALE
Prints ``RUN <id>`` once, then ``ACK <last_seq>`` each time readings are committed.
"""

from __future__ import annotations

import sys
from typing import Any

from lims.db import Database
from lims.engine import ReadingsCommitted, RunEngine, RunRequest
from tests.engine import fakes
from tests.engine.sample_procedure import SampleGasProcedure

ANSWERS = {"connect": True, "display_range": "2000 umol/mol"}


def main() -> None:
    url, scale = sys.argv[1], float(sys.argv[2])
    db = Database(url)

    def on_event(event: Any) -> None:
        if isinstance(event, ReadingsCommitted):
            print(f"ACK {event.last_seq}", flush=True)

    request = RunRequest(
        procedure=SampleGasProcedure(),
        instruments=fakes.bench(scale),
        operator="zhang",
        bench_name="fake",
        simulated=True,
        time_scale=scale,
        standards=("STD-GAS-001",),
        reference_materials=("RM-CO2-0400", "RM-CO2-1000"),
        auto_answer=lambda p: ANSWERS[p.key],
    )
    handle = RunEngine(db).start(request, subscribers=[on_event])
    print(f"RUN {handle.run_id}", flush=True)
    print(f"END {handle.wait()}", flush=True)


if __name__ == "__main__":
    main()
