"""Fork server for the SIGKILL test: imports the ``lims`` command line once, then forks one
child per request that runs ``lims <argv>`` exactly as the installed command does.

Protocol (JSON lines on stdin): ``[out_path, arg, arg, ...]`` → the child's stdout and
stderr go to ``out_path`` and ``out_path.err``; the server prints the child's pid. A line
``["wait", pid]`` waits for that child and prints its exit status.
"""

from __future__ import annotations

import json
import os
import sys

from lims.cli import main as cli_main
from lims.engine import discover_procedures

discover_procedures()  # import the procedures before forking


def child(out_path: str, argv: list[str]) -> None:
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(out_path + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.argv = ["lims", *argv]
    code = 0
    try:
        cli_main.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        code = 70
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if request[0] == "wait":
            _, status = os.waitpid(int(request[1]), 0)
            print(os.waitstatus_to_exitcode(status), flush=True)
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            child(request[0], request[1:])
        print(pid, flush=True)


if __name__ == "__main__":
    serve()
