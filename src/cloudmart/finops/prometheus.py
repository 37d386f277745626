"""A small async client for the Prometheus HTTP API (instant and range queries).

Results are parsed into `Series` objects (a label dict plus numpy arrays of timestamps and
values). Long range queries are split into chunks that stay under Prometheus' 11,000-point
limit; transient failures (connection errors, 5xx, timeouts) are retried with backoff. Every
failure surfaces as a `PrometheusError` naming the Prometheus URL and what failed.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
import time as _time
from dataclasses import dataclass, field

import httpx
import numpy as np
import orjson

MAX_POINTS_PER_QUERY = 11_000


class PrometheusError(Exception):
    """A query could not be answered. `url` is the Prometheus base URL, `what` the failure."""

    def __init__(self, url: str, what: str, *, query: str | None = None):
        self.url = url
        self.what = what
        self.query = query
        super().__init__(f"Prometheus at {url}: {what}")


@dataclass
class Series:
    labels: dict[str, str]
    timestamps: np.ndarray  # float64 unix seconds
    values: np.ndarray  # float64

    @property
    def value(self) -> float:
        """The value of an instant-vector sample (the last one for a range)."""
        return float(self.values[-1])


@dataclass
class QueryStats:
    """Accumulated wall time spent waiting on Prometheus (for benchmarks and logs)."""

    queries: int = 0
    seconds: float = 0.0
    samples: int = 0
    recent: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=100))  # (query, seconds)


class PrometheusClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.25,
        max_points: int = MAX_POINTS_PER_QUERY,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_points = max_points
        self.stats = QueryStats()
        self.concurrency = concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> "PrometheusClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def _get(self, path: str, params: dict[str, str]) -> dict:
        last: str = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            if self._semaphore is None:
                self._semaphore = asyncio.Semaphore(self.concurrency)
            async with self._semaphore:
                t0 = _time.perf_counter()
                try:
                    resp = await self._client.post(path, data=params)
                except httpx.TimeoutException:
                    last = f"timed out after {self.timeout:g}s"
                    continue
                except httpx.HTTPError as e:
                    last = f"unreachable ({type(e).__name__}: {e or 'connection failed'})"
                    continue
                finally:
                    elapsed = _time.perf_counter() - t0
                    self.stats.seconds += elapsed
                    self.stats.queries += 1
                    self.stats.recent.append((params.get("query", ""), elapsed))
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            try:
                body = orjson.loads(resp.content)
            except orjson.JSONDecodeError:
                raise PrometheusError(self.url, f"HTTP {resp.status_code} with a non-JSON body", query=params.get("query"))
            if body.get("status") != "success":
                err = body.get("error") or f"HTTP {resp.status_code}"
                raise PrometheusError(self.url, f"query failed: {err}", query=params.get("query"))
            return body["data"]
        raise PrometheusError(self.url, last, query=params.get("query"))

    def _parse(self, data: dict) -> list[Series]:
        kind = data.get("resultType")
        out: list[Series] = []
        if kind == "vector":
            for r in data["result"]:
                ts, v = r["value"]
                out.append(Series(r["metric"], np.array([float(ts)]), np.array([float(v)])))
        elif kind == "matrix":
            for r in data["result"]:
                vals = r["values"]
                ts = np.fromiter((p[0] for p in vals), dtype=np.float64, count=len(vals))
                vs = np.fromiter((float(p[1]) for p in vals), dtype=np.float64, count=len(vals))
                out.append(Series(r["metric"], ts, vs))
        elif kind == "scalar":
            ts, v = data["result"]
            out.append(Series({}, np.array([float(ts)]), np.array([float(v)])))
        else:
            raise PrometheusError(self.url, f"unexpected result type {kind!r}")
        self.stats.samples += sum(len(s.values) for s in out)
        return out

    async def query(self, promql: str, time: float) -> list[Series]:
        """Instant query evaluated at `time` (unix seconds)."""
        data = await self._get("/api/v1/query", {"query": promql, "time": f"{time:.3f}"})
        return self._parse(data)

    async def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """Range query over [start, end] (both inclusive) at `step` seconds, chunked as needed."""
        if step <= 0:
            raise ValueError("step must be positive")
        if end < start:
            return []
        points = int(math.floor((end - start) / step)) + 1
        chunk_points = max(1, self.max_points - 1)
        bounds = []
        k = 0
        while k < points:
            n = min(chunk_points, points - k)
            bounds.append((start + k * step, start + (k + n - 1) * step))
            k += n
        parts = await asyncio.gather(
            *(
                self._get(
                    "/api/v1/query_range",
                    {"query": promql, "start": f"{a:.3f}", "end": f"{b:.3f}", "step": f"{step:g}"},
                )
                for a, b in bounds
            )
        )
        merged: dict[tuple, list[Series]] = {}
        for data in parts:
            for s in self._parse(data):
                merged.setdefault(tuple(sorted(s.labels.items())), []).append(s)
        return [
            Series(group[0].labels, np.concatenate([g.timestamps for g in group]), np.concatenate([g.values for g in group]))
            for group in merged.values()
        ]

    async def healthy(self) -> bool:
        try:
            resp = await self._client.get("/-/ready")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200
