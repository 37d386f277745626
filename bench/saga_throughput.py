"""Sustained order rate through the whole saga, distributed vs embedded, on this machine.

Distributed: five `cloudmart serve` processes on PostgreSQL, Redis and Kafka (all real, on
127.0.0.1, throw-away dirs). Embedded: one `cloudmart up` process (SQLite, in-process bus).
For each mode an open-loop load generator places orders at a fixed rate for --duration seconds
(each order: POST /api/orders with the success test card), then waits for every order to reach a
final state. A rate passes when every order was accepted, the achieved rate is within 5% of the
target, p99 created→PAID (from the orders table) is under 2 s and every order is final 30 s
after the step (an unfinished order is a backlog the saga had not worked off yet, or a lost one).
Rates are tried in increasing order; the highest passing one is reported.

    .venv/bin/python bench/saga_throughput.py --duration 60 --rates 20,40,60,80
    .venv/bin/python bench/saga_throughput.py --mode embedded --duration 20 --json

The load generator runs on the same 2 cores as the services, so the figures are conservative.
"service CPU ms/order" is the CPU time the CloudMart processes (not PostgreSQL, Kafka, Redis or
the load generator) spent per order during a step: a figure that does not depend on what else
the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
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
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cloudmart.core.auth import KeyStore, TokenIssuer  # noqa: E402
from cloudmart.core.config import Settings  # noqa: E402
from cloudmart.core.db import Database  # noqa: E402
from cloudmart.services.orders.models import orders  # noqa: E402

SERVICES = ("users", "products", "orders", "payments", "notifications")
P99_LIMIT_S = 2.0
DRAIN_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str) -> None:
    subprocess.run(list(args), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


@dataclass
class Stack:
    mode: str
    bases: dict[str, str]  # service name -> base URL
    orders_db_url: str
    keys_dir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def base(self, service: str) -> str:
        return self.bases[service]


async def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"process for {url} exited with {proc.returncode}")
            try:
                if (await client.get(url + "/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout}s")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115 (owned by the child until it exits)
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def base_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "KAFKA_", "REDIS_", "SMTP_"))}
    env.update(LOG_LEVEL="warning", PYTHONPATH=str(ROOT / "src"))
    return env


@asynccontextmanager
async def embedded_stack(work: Path):
    port = free_port()
    data = work / "embedded"
    env = base_env(work)
    proc = spawn([sys.executable, "-m", "cloudmart.cli", "up", "--port", str(port), "--data-dir", str(data), "--no-seed"],
                 env, work / "embedded.log")
    base = f"http://127.0.0.1:{port}"
    stack = Stack("embedded", dict.fromkeys(SERVICES, base), f"sqlite+aiosqlite:///{data / 'orders.db'}", data / "keys", [proc])
    try:
        await wait_healthy(base, proc)
        yield stack
    finally:
        stop_procs(stack.procs)


@asynccontextmanager
async def distributed_stack(work: Path):
    pg_port, redis_port, kafka_port = free_port(), free_port(), free_port()
    started: list[tuple[str, Path]] = []
    procs: list[subprocess.Popen] = []
    try:
        run("bash", "scripts/postgres.sh", "start", str(pg_port), str(work / "pg"))
        started.append(("postgres", work / "pg"))
        run("bash", "scripts/redis.sh", "start", str(redis_port), str(work / "redis"))
        started.append(("redis", work / "redis"))
        run("bash", "scripts/install-kafka.sh")
        run("bash", "scripts/kafka.sh", "start", str(work / "kafka"), str(kafka_port))
        started.append(("kafka", work / "kafka"))
        keys_dir = work / "keys"
        KeyStore.load_or_create(keys_dir)
        ports = {name: free_port() for name in SERVICES}
        db_url = f"postgresql://cloudmart@127.0.0.1:{pg_port}/cloudmart"
        env = base_env(work)
        env.update(
            DATABASE_URL=db_url,
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            KAFKA_BROKERS=f"127.0.0.1:{kafka_port}",
            JWT_KEYS_DIR=str(keys_dir),
            PRODUCT_SERVICE_URL=f"http://127.0.0.1:{ports['products']}",
            USER_SERVICE_URL=f"http://127.0.0.1:{ports['users']}",
        )
        # Migrations of one schema at a time keep start-up quiet; then all run together.
        for name in SERVICES:
            proc = spawn(
                [sys.executable, "-m", "cloudmart.cli", "serve", name, "--port", str(ports[name])],
                {**env, "SERVICE_NAME": name, "CLOUDMART_DATA_DIR": str(work / name)},
                work / f"{name}.log",
            )
            procs.append(proc)
            await wait_healthy(f"http://127.0.0.1:{ports[name]}", proc)
        bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        yield Stack("distributed", bases, Settings(DATABASE_URL=db_url).postgres_url(), keys_dir, procs)
    finally:
        stop_procs(procs)
        for kind, path in reversed(started):
            script = {"postgres": "postgres.sh", "redis": "redis.sh", "kafka": "kafka.sh"}[kind]
            subprocess.run(["bash", f"scripts/{script}", "destroy" if kind == "postgres" else "stop", str(path)],
                           cwd=ROOT, stdout=subprocess.DEVNULL, check=False)


def stop_procs(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Shopper:
    headers: dict[str, str]
    pm: str


async def prepare(stack: Stack, client: httpx.AsyncClient, *, shoppers: int = 20, products: int = 20):
    settings = Settings()
    issuer = TokenIssuer(KeyStore.load(stack.keys_dir), settings)
    admin = {"Authorization": "Bearer " + issuer.issue(str(uuid.uuid4()), "bench-admin@cloudmart.dev", ["admin"]).token}
    product_ids = []
    for i in range(products):
        body = {"sku": f"BENCH-{i}-{uuid.uuid4().hex[:6]}", "name": f"Bench item {i}", "price_minor": 1000 + i,
                "currency": "EUR", "initial_stock": 10_000_000}
        r = await client.post(stack.base("products") + "/api/products", json=body, headers=admin)
        r.raise_for_status()
        product_ids.append(r.json()["id"])
    people = []
    for _ in range(shoppers):
        sub = str(uuid.uuid4())
        headers = {"Authorization": "Bearer " + issuer.issue(sub, f"{sub[:8]}@bench.test", ["customer"]).token}
        card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
        r = await client.post(stack.base("payments") + "/api/payments/methods", json=card, headers=headers)
        r.raise_for_status()
        people.append(Shopper(headers, r.json()["id"]))
    return product_ids, people


@dataclass
class StepResult:
    mode: str
    target_rate: float
    achieved_rate: float
    accepted: int
    errors: int
    create_p50_ms: float
    paid_p50_ms: float
    paid_p99_ms: float
    service_cpu_ms_per_order: float
    cpu_ms_per_order_by_process: dict[str, float]
    db_transactions_per_order: float  # PostgreSQL commits + rollbacks (distributed mode only)
    paid: int
    cancelled: int
    unfinished: int  # accepted but not PAID/CANCELLED 30 s after the step: a backlog, or lost
    passed: bool


def cpu_by_process(procs: list[subprocess.Popen]) -> list[float]:
    """User + system CPU seconds of each service process so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for proc in procs:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            out.append(0.0)
            continue
        out.append((int(fields[11]) + int(fields[12])) / tick)  # utime, stime
    return out


async def db_transactions(stack: Stack, db: Database) -> int:
    """Transactions PostgreSQL has finished so far (all databases); 0 on SQLite."""
    if stack.mode != "distributed":
        return 0
    from sqlalchemy import text

    async with db.transaction() as s:
        await s.execute(text("SELECT pg_stat_clear_snapshot()"))
        return int((await s.execute(text("SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"))).scalar_one())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run_step(stack: Stack, client: httpx.AsyncClient, db: Database, rate: float, duration: float,
                   products: list[int], shoppers: list[Shopper]) -> StepResult:
    n = int(rate * duration)
    ids: list[str] = []
    create_ms: list[float] = []
    errors = 0
    url = stack.base("orders") + "/api/orders"

    async def one(i: int) -> None:
        nonlocal errors
        shopper = shoppers[i % len(shoppers)]
        body = {"lines": [{"product_id": products[i % len(products)], "quantity": 1}], "payment_method_id": shopper.pm}
        started = time.perf_counter()
        try:
            r = await client.post(url, json=body, headers={**shopper.headers, "Idempotency-Key": uuid.uuid4().hex})
        except httpx.HTTPError:
            errors += 1
            return
        if r.status_code != 201:
            errors += 1
            return
        create_ms.append((time.perf_counter() - started) * 1000)
        ids.append(r.json()["id"])

    cpu0 = cpu_by_process(stack.procs)
    tx0 = await db_transactions(stack, db)
    t0 = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    deadline = time.monotonic() + DRAIN_S
    while True:
        async with db.transaction() as s:
            rows = (await s.execute(
                select(orders.c.id, orders.c.status, orders.c.created_at, orders.c.paid_at).where(orders.c.id.in_(ids))
            )).all() if ids else []
        final = [r for r in rows if r.status in ("PAID", "CANCELLED")]
        if len(final) == len(ids) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    per_order = max(len(ids), 1)
    cpu_each = [(after - before) * 1000 / per_order for before, after in zip(cpu0, cpu_by_process(stack.procs), strict=True)]
    await asyncio.sleep(1.0)  # PostgreSQL flushes its statistics at most once a second
    cpu_per_order = sum(cpu_each)
    names = SERVICES if stack.mode == "distributed" else ("embedded",)
    tx_per_order = (await db_transactions(stack, db) - tx0) / per_order
    paid = [r for r in rows if r.status == "PAID"]
    latencies = [(r.paid_at - r.created_at).total_seconds() * 1000 for r in paid]
    achieved = len(ids) / elapsed if elapsed else 0.0
    p99 = pct(latencies, 0.99)
    unfinished = len(ids) - len(final)
    passed = errors == 0 and achieved >= 0.95 * rate and unfinished == 0 and p99 < P99_LIMIT_S * 1000
    return StepResult(
        stack.mode, rate, round(achieved, 1), len(ids), errors, round(statistics.median(create_ms), 1) if create_ms else float("nan"),
        round(pct(latencies, 0.5), 1), round(p99, 1), round(cpu_per_order, 1),
        {n: round(c, 1) for n, c in zip(names, cpu_each, strict=True)}, round(tx_per_order, 1), len(paid), len(final) - len(paid), unfinished, passed,
    )


async def bench_mode(mode: str, rates: list[float], duration: float, work: Path, log) -> list[StepResult]:
    work.mkdir(parents=True, exist_ok=True)
    factory = distributed_stack if mode == "distributed" else embedded_stack
    results: list[StepResult] = []
    async with factory(work) as stack:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=200)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
            products, shoppers = await prepare(stack, client)
            db = Database(stack.orders_db_url, "orders")
            try:
                for rate in rates:
                    result = await run_step(stack, client, db, rate, duration, products, shoppers)
                    results.append(result)
                    log(f"{mode:<12} target {rate:>6.1f}/s achieved {result.achieved_rate:>6.1f}/s "
                        f"create p50 {result.create_p50_ms:>6.1f} ms, created→PAID p50 {result.paid_p50_ms:>7.1f} ms "
                        f"p99 {result.paid_p99_ms:>7.1f} ms, service CPU {result.service_cpu_ms_per_order:>5.1f} ms/order, "
                        f"PG tx {result.db_transactions_per_order:>4.1f}/order, "
                        f"unfinished {result.unfinished} errors {result.errors} -> {'pass' if result.passed else 'FAIL'}")
                    log("    CPU ms/order by process: " + ", ".join(f"{k} {v}" for k, v in result.cpu_ms_per_order_by_process.items()))
                    if not result.passed:
                        break
            finally:
                await db.dispose()
    return results


def best(results: list[StepResult]) -> StepResult | None:
    passing = [r for r in results if r.passed]
    return max(passing, key=lambda r: r.target_rate) if passing else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["both", "distributed", "embedded"], default="both")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate step (default 60)")
    parser.add_argument("--rates", default="20,40,60,80,100", help="orders/s to try, increasing")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.duration <= 0 or args.duration > 600:
        parser.error("--duration must be in (0, 600] seconds")
    try:
        rates = sorted(float(x) for x in args.rates.split(","))
    except ValueError:
        parser.error(f"--rates must be a comma-separated list of numbers, got {args.rates!r}")
    if not rates or rates[0] <= 0 or rates[-1] > 1000:
        parser.error("--rates must be between 0 and 1000 orders/s")
    modes = ["distributed", "embedded"] if args.mode == "both" else [args.mode]
    work = Path(tempfile.mkdtemp(prefix="cloudmart-saga-bench-"))
    log = (lambda _msg: None) if args.json else print
    all_results: dict[str, list[StepResult]] = {}
    try:
        for mode in modes:
            all_results[mode] = asyncio.run(bench_mode(mode, rates, args.duration, work / mode, log))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {m: (best(rs).target_rate if best(rs) else 0.0) for m, rs in all_results.items()}
    ratio = (summary["distributed"] / summary["embedded"]) if len(summary) == 2 and summary["embedded"] else None
    if args.json:
        print(json.dumps({"duration_s": args.duration, "steps": {m: [asdict(r) for r in rs] for m, rs in all_results.items()},
                          "best_rate": summary, "ratio_distributed_embedded": ratio}, indent=2))
        return
    print()
    for mode, rate in summary.items():
        b = best(all_results[mode])
        detail = f"(p99 created→PAID {b.paid_p99_ms:.0f} ms, all final)" if b else "(no rate passed)"
        print(f"highest sustained rate, {mode:<11}: {rate:>6.1f} orders/s over {args.duration:.0f} s {detail}")
    if ratio is not None:
        print(f"ratio distributed/embedded: {ratio:.2f}")


if __name__ == "__main__":
    main()
