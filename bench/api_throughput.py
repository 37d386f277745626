"""Issue 2's benchmark: throughput and latency of the real server stack, measured in one run.

Starts a throw-away PostgreSQL and Redis on 127.0.0.1 (scripts/postgres.sh, scripts/redis.sh)
and four real uvicorn servers via `cloudmart serve` (distributed mode), on one database:
  products (default cache: near cache + Redis), products (Redis only, CACHE_LOCAL_TTL_SECONDS=0),
  products (CACHE_ENABLED=false), users.
Then, for a fixed time each, drives keep-alive HTTP/1.1 load from this process and prints
requests/s and p50/p99 latency for:
  bare      GET /health of the cached product server (same middleware, metrics and logging)
  cached    GET /api/products/{id} from the cache: default set-up, and Redis only
  uncached  GET /api/products/{id} read from PostgreSQL on every request
  login     POST /api/users/login (argon2 verification + RS256 signing)
and the ratio cached/bare (goal >= 0.5). The three read scenarios run in interleaved rounds so
that other load on the machine affects them alike. Everything is stopped at the end.

    .venv/bin/python bench/api_throughput.py [--duration 6] [--rounds 6] [--concurrency 32] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
CLOUDMART = ROOT / ".venv" / "bin" / "cloudmart"
EMAIL, PASSWORD = "bench@example.com", "bench-password-4242"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server on port {port} not ready at {path} after {timeout}s")


# ------------------------------------------------------------------ a lean HTTP/1.1 load client


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def http_request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def as_dict(self) -> dict:
        return {
            "scenario": self.name,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.pct(0.50), 2),
            "p99_ms": round(self.pct(0.99), 2),
        }


async def drive(name: str, port: int, requests: list[bytes], concurrency: int, duration: float, warmup: float,
                max_requests: int) -> Result:
    """Closed-loop load: `concurrency` keep-alive connections, each sending the next request as
    soon as the previous answer arrived; only the measured window (after warm-up) counts."""
    conns = [await Connection.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    counts = {"ok": 0, "err": 0}
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker(i: int, conn: Connection) -> None:
        n = i
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at or counts["ok"] + counts["err"] >= max_requests:
                return
            status = await conn.request(requests[n % len(requests)])
            n += concurrency
            t1 = time.perf_counter()
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                counts["ok" if status < 400 else "err"] += 1

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    elapsed = min(time.perf_counter(), stop_at) - measure_from
    for c in conns:
        c.close()
    return Result(name, counts["ok"], counts["err"], max(elapsed, 1e-9), latencies)


def merge(parts: list[Result]) -> Result:
    return Result(
        parts[0].name,
        sum(p.requests for p in parts),
        sum(p.errors for p in parts),
        sum(p.seconds for p in parts),
        [x for p in parts for x in p.latencies],
    )


# ------------------------------------------------------------------ servers


class Stack:
    def __init__(self, workdir: Path, log_level: str) -> None:
        self.workdir = workdir
        self.log_level = log_level
        self.procs: list[subprocess.Popen] = []
        self.pg_dir = workdir / "pg"
        self.redis_dir = workdir / "redis"
        self.pg_port, self.redis_port = free_port(), free_port()
        self.ports = {"cached": free_port(), "redis_only": free_port(), "uncached": free_port(), "users": free_port()}

    @property
    def database_url(self) -> str:
        return f"postgresql://cloudmart@127.0.0.1:{self.pg_port}/cloudmart"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> None:
        subprocess.run(["bash", str(SCRIPTS / "postgres.sh"), "start", str(self.pg_port), str(self.pg_dir)],
                       check=True, capture_output=True)
        subprocess.run(["bash", str(SCRIPTS / "redis.sh"), "start", str(self.redis_port), str(self.redis_dir)],
                       check=True, capture_output=True)
        base = {
            **os.environ,
            "CLOUDMART_MODE": "distributed",
            "DATABASE_URL": self.database_url,
            "LOG_LEVEL": self.log_level,
            "CLOUDMART_DATA_DIR": str(self.workdir / "data"),
        }
        for key in ("REDIS_URL", "REDIS_HOST", "KAFKA_BROKERS"):
            base.pop(key, None)
        self._serve("users", self.ports["users"], base)
        # The products servers start one after the other: both run the same migrations.
        self._serve("products", self.ports["cached"], {**base, "REDIS_URL": self.redis_url})
        wait_http(self.ports["cached"], "/ready")
        self._serve("products", self.ports["redis_only"], {**base, "REDIS_URL": self.redis_url, "CACHE_LOCAL_TTL_SECONDS": "0"})
        self._serve("products", self.ports["uncached"], {**base, "CACHE_ENABLED": "false"})
        for port in self.ports.values():
            wait_http(port, "/ready")

    def _serve(self, service: str, port: int, env: dict[str, str]) -> None:
        log = open(self.workdir / f"{service}-{port}.log", "wb")  # noqa: SIM115 -- closed with the process
        self.procs.append(
            subprocess.Popen([str(CLOUDMART), "serve", service, "--port", str(port)], env=env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["bash", str(SCRIPTS / "redis.sh"), "stop", str(self.redis_dir)], check=False)
        subprocess.run(["bash", str(SCRIPTS / "postgres.sh"), "destroy", str(self.pg_dir)], check=False,
                       capture_output=True)


async def seed_catalog(stack: Stack) -> list[int]:
    """The demo catalog, written through product-service's own code (cache invalidated too)."""
    os.environ.update({"CLOUDMART_MODE": "distributed", "DATABASE_URL": stack.database_url, "REDIS_URL": stack.redis_url})
    from cloudmart.core.cache import cache_from_settings
    from cloudmart.core.config import Settings
    from cloudmart.core.runtime import make_context
    from cloudmart.services.products import SPEC

    settings = Settings()
    ctx = make_context(settings, SPEC, cache=cache_from_settings(settings))
    try:
        await SPEC.seed_demo(ctx)
        from sqlalchemy import select

        from cloudmart.services.products.models import Product

        async with ctx.db.transaction() as session:
            return list((await session.scalars(select(Product.id).order_by(Product.id))).all())
    finally:
        await ctx.db.dispose()
        await ctx.cache.close()


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="cloudmart-bench-"))
    stack = Stack(workdir, args.log_level)
    try:
        started = time.monotonic()
        stack.start()
        ids = await seed_catalog(stack)
        signup = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
        conn = await Connection.open(stack.ports["users"])
        status = await conn.request(http_request("POST", "/api/users/signup", signup))
        conn.close()
        if status != 201:
            raise RuntimeError(f"sign-up for the login benchmark failed with HTTP {status}")
        setup_s = time.monotonic() - started

        reads = [http_request("GET", f"/api/products/{i}") for i in ids]
        login = [http_request("POST", "/api/users/login", json.dumps({"email": EMAIL, "password": PASSWORD}).encode())]
        c, w, cap = args.concurrency, args.warmup, args.max_requests
        per_round = args.duration / args.rounds
        scenarios = [
            ("bare endpoint (GET /health)", stack.ports["cached"], [http_request("GET", "/health")]),
            ("cached product read (near cache+Redis)", stack.ports["cached"], reads),
            ("cached product read (Redis only)", stack.ports["redis_only"], reads),
            ("uncached product read (PostgreSQL)", stack.ports["uncached"], reads),
        ]
        # Interleaved rounds: a load change on the machine hits every scenario alike, so the
        # per-round ratios stay comparable; the totals are summed over the rounds.
        rounds: list[list[Result]] = []
        for _ in range(args.rounds):
            rounds.append([await drive(n, port, reqs, c, per_round, w, cap) for n, port, reqs in scenarios])
        results = [merge(list(col)) for col in zip(*rounds, strict=True)]
        results.append(
            await drive("login (argon2 + RS256)", stack.ports["users"], login, min(c, args.login_concurrency),
                        args.duration, w, cap)
        )
        round_ratios = [r[1].rps / r[0].rps for r in rounds if r[0].rps]
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    bare, cached, redis_only, uncached, _ = results
    return {
        "setup_seconds": round(setup_s, 1),
        "concurrency": args.concurrency,
        "duration_seconds": args.duration,
        "rounds": args.rounds,
        "log_level": args.log_level,
        "cpus": os.cpu_count(),
        "results": [r.as_dict() for r in results],
        "ratio_cached_over_bare": round(cached.rps / bare.rps, 3) if bare.rps else None,
        "ratio_cached_over_bare_per_round": [round(x, 3) for x in round_ratios],
        "ratio_cached_over_bare_median_round": round(statistics.median(round_ratios), 3) if round_ratios else None,
        "ratio_cached_over_uncached": round(cached.rps / uncached.rps, 3) if uncached.rps else None,
        "ratio_redis_only_over_bare": round(redis_only.rps / bare.rps, 3) if bare.rps else None,
        "goal_cached_over_bare": 0.5,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=6.0, help="measured seconds per scenario (max 60)")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds the duration is split into (1-20)")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each scenario run")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections (1-256)")
    parser.add_argument("--login-concurrency", type=int, default=4, help="connections for the login scenario")
    parser.add_argument("--max-requests", type=int, default=500_000, help="hard cap per scenario")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                        help="servers' LOG_LEVEL (info logs one JSON line per request)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not 0 < args.duration <= 60:
        parser.error("--duration must be in (0, 60]")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    if not 1 <= args.concurrency <= 256:
        parser.error("--concurrency must be between 1 and 256")
    if not CLOUDMART.exists():
        parser.error(f"{CLOUDMART} not found: run `make venv` first")
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"CloudMart API throughput — {report['cpus']} CPUs, {args.concurrency} connections, "
          f"{args.duration:g} s per scenario, server LOG_LEVEL={args.log_level}")
    print(f"{'scenario':<40}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'errors':>8}")
    for r in report["results"]:
        print(f"{r['scenario']:<40}{r['rps']:>10.1f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
              f"{r['requests']:>10}{r['errors']:>8}")
    ratio = report["ratio_cached_over_bare"]
    verdict = "meets" if ratio is not None and ratio >= 0.5 else "misses"
    print(f"cached read / bare endpoint throughput = {ratio} ({verdict} the goal >= 0.5); "
          f"median round {report['ratio_cached_over_bare_median_round']}, "
          f"rounds {report['ratio_cached_over_bare_per_round']}")
    print(f"cached read without the near cache (every hit a Redis GET) / bare = {report['ratio_redis_only_over_bare']}")
    print(f"cached read / uncached read throughput = {report['ratio_cached_over_uncached']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
