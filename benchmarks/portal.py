"""Portal benchmark: requests per second and latency of the public verification page.

    createdb -h 127.0.0.1 -U postgres lims_portal_bench
    uv run python benchmarks/portal.py --url postgresql+psycopg://postgres@127.0.0.1/lims_portal_bench
    uv run python benchmarks/portal.py --url ... --reuse      # time it again without reloading
    dropdb -h 127.0.0.1 -U postgres lims_portal_bench

The database is filled by ``benchmarks/scale.py``'s loader (1,000,000 certificates
on PostgreSQL at full scale, each with its full-size content record; ``--scale``
multiplies) but without readings, which the verification page never reads.

The portal runs as ``lims portal serve`` in its own process on loopback, over
the read-only path, with the per-client verification rate limit turned off (all
requests come from one address). This process is the client: ``--concurrency``
threads, each with one keep-alive connection, request ``/v/<number>?h=<hash>``
for random certificates (issued, superseded, revoked, rejected and drafts alike,
so some answers are 404) until ``--requests`` have been answered or
``--max-seconds`` have passed, after a warm-up. Prints requests per second,
p50/p95/p99 latency and the answers by status.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale  # benchmarks/scale.py: the loader

from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import Certificate

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _targets(db: Database, n: int, seed: int = 11) -> list[str]:
    """Paths of ``n`` random certificates' verification pages, with their QR hashes."""
    with db.read() as s:
        top = int(s.scalar(select(func.max(Certificate.id))) or 0)
        rnd = random.Random(seed)
        ids = sorted({rnd.randint(1, top) for _ in range(n)})
        rows = s.execute(
            select(Certificate.number, Certificate.content_sha256).where(Certificate.id.in_(ids))
        ).all()
    return [f"/v/{quote(number, safe='')}?h={sha}" for number, sha in rows]


def _start_portal(url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIMS_")}
    env.update(
        {
            "LIMS_DATA_DIR": str(data_dir),
            "LIMS_DATABASE_URL": url,
            "LIMS_PORTAL_VERIFY_RATE": "0",
        }
    )
    lims = Path(sys.executable).with_name("lims")
    proc = subprocess.Popen(
        [str(lims), "portal", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"the portal exited with status {proc.returncode}") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the portal did not start within 60 s")


def _load(
    port: int, paths: list[str], total: int, concurrency: int, max_seconds: float
) -> tuple[list[float], Counter[int], float]:
    """Request pages until ``total`` are answered or ``max_seconds`` pass.

    Returns the latencies (ms), the answers by status and the wall time (s).
    """
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    issued = iter(range(total))
    stop_at = time.monotonic() + max_seconds

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: Counter[int] = Counter()
        while time.monotonic() < stop_at:
            with lock:
                if next(issued, None) is None:
                    break
            path = rnd.choice(paths)
            t = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                codes[0] += 1
                continue
            mine.append((time.perf_counter() - t) * 1000)
            codes[response.status] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(codes)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses, time.perf_counter() - t0


def main() -> None:
    """Load (or reuse) the database, serve the portal, time the verification page."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", required=True, help="an EMPTY PostgreSQL (or SQLite) database")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--reuse", action="store_true", help="time a database filled before")
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--max-seconds", type=float, default=180.0)
    args = ap.parse_args()
    db = Database(args.url)
    full = 100_000 if db.is_sqlite else 1_000_000
    n_certs = max(1000, int(full * args.scale))
    upgrade(db.engine)
    with db.read() as s:
        present = int(s.scalar(select(func.count()).select_from(Certificate)) or 0)
    if args.reuse:
        if present != n_certs:
            raise SystemExit(
                f"--reuse: the database holds {present:,} certificates, not {n_certs:,}"
            )
    elif present:
        raise SystemExit("the benchmark database must be empty (or use --reuse)")
    else:
        scale.READINGS_PER_CERT = 0  # the verification page reads no readings
        t = time.perf_counter()
        print(f"loading {n_certs:,} certificates (scale.py's loader, no readings)", flush=True)
        scale.generate(db, n_certs)
        print(f"loaded in {time.perf_counter() - t:.0f} s", flush=True)
    with db.read() as s:
        size = s.scalar(text("SELECT count(*) FROM certificates"))
    paths = _targets(db, 20_000)
    db.dispose()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as data_dir:
        portal = _start_portal(args.url, port, Path(data_dir))
        try:
            _load(port, paths, args.warmup, args.concurrency, args.max_seconds)
            latencies, statuses, wall = _load(
                port, paths, args.requests, args.concurrency, args.max_seconds
            )
        finally:
            portal.send_signal(signal.SIGINT)
            try:
                portal.wait(timeout=20)
            except subprocess.TimeoutExpired:
                portal.kill()
    if len(latencies) < 20:
        raise SystemExit(f"too few answers to report ({len(latencies)})")
    q = statistics.quantiles(latencies, n=100)
    backend = "sqlite" if args.url.startswith("sqlite") else "postgresql"
    print(
        f"{backend}: {size:,} certificates; {len(latencies):,} requests of /v/<number>?h=<hash> "
        f"over {args.concurrency} keep-alive connections in {wall:.1f} s",
        flush=True,
    )
    print(
        f"verification page: {len(latencies) / wall:7.1f} requests/s   "
        f"p50 {statistics.median(latencies):6.2f} ms   p95 {q[94]:6.2f} ms   p99 {q[98]:6.2f} ms",
        flush=True,
    )
    print("answers: " + ", ".join(f"{code}: {n:,}" for code, n in sorted(statuses.items())))


if __name__ == "__main__":
    main()
