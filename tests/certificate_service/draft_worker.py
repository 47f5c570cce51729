"""Worker process: run ``lims certificate draft RUN`` once, released by the test (concurrency).

The worker imports the command line and connects first, prints ``ready`` and waits
for a line on stdin, so the drafts of all workers really start together. Then it
runs the command in-process exactly as the console script would and exits with
its status; the command's own output is what the test reads.
"""

from __future__ import annotations

import sys

from lims.cli.main import main as lims_main
from lims.db import Database


def main(url: str, args: list[str]) -> None:
    db = Database(url)
    with db.engine.connect():
        pass  # the database answers before the start line
    db.dispose()
    print("ready", flush=True)
    sys.stdin.readline()
    sys.argv = ["lims", *args]
    lims_main()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
