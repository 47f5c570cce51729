"""``python -m drivers.sim BENCH.toml``: serve a simulated bench until Ctrl-C."""

from __future__ import annotations

import sys

from drivers.sim.serve import serve_forever

if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m drivers.sim BENCH.toml", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve_forever(sys.argv[1], sys.stdout))
