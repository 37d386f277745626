"""`cloudmart loadgen`: weighted shopper journeys (browse, sign up, order, pay) driven by locust,
bounded in users and duration, to exercise the HPAs.

locust runs in a child process (cloudmart.ops.locustfile): gevent has to monkey-patch the standard
library before ssl is imported, which the rest of the CLI has long done by then.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_USERS = 500
MAX_DURATION_S = 3600
# time for locust to start and to stop its users, on top of the run itself
GRACE_S = 60


class LoadgenError(Exception):
    """The load run itself failed (the locust process did not produce a report)."""


@dataclass(frozen=True)
class Weights:
    browse: int = 6
    signup: int = 1
    order: int = 2
    pay: int = 1

    def __post_init__(self) -> None:
        for name in ("browse", "signup", "order", "pay"):
            if getattr(self, name) < 0:
                raise ValueError(f"weight {name} must be >= 0")
        if self.browse + self.signup + self.order + self.pay == 0:
            raise ValueError("at least one journey needs a positive weight")


@dataclass
class EndpointStats:
    name: str
    method: str
    requests: int
    failures: int
    median_ms: float
    p95_ms: float
    rps: float


@dataclass
class LoadReport:
    base_url: str
    users: int
    duration_s: float
    requests: int
    failures: int
    rps: float
    endpoints: list[EndpointStats] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate(base_url: str, users: int, spawn_rate: float, duration_s: float) -> None:
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base URL {base_url!r} must start with http:// or https://")
    if not 1 <= users <= MAX_USERS:
        raise ValueError(f"users must be between 1 and {MAX_USERS}, got {users}")
    if not 1 <= duration_s <= MAX_DURATION_S:
        raise ValueError(f"duration must be between 1s and {MAX_DURATION_S}s, got {duration_s:g}s")
    if spawn_rate <= 0:
        raise ValueError(f"spawn rate must be positive, got {spawn_rate:g}")


def run_load(
    base_url: str,
    users: int,
    duration_s: float,
    spawn_rate: float = 5.0,
    weights: Weights | None = None,
) -> LoadReport:
    """Run the journeys against `base_url` for `duration_s` seconds with at most `users` shoppers."""
    validate(base_url, users, spawn_rate, duration_s)
    config = {"base_url": base_url, "users": users, "duration_s": duration_s, "spawn_rate": spawn_rate,
              "weights": asdict(weights or Weights())}
    try:
        proc = subprocess.run([sys.executable, "-m", "cloudmart.ops.locustfile", json.dumps(config)],
                              capture_output=True, text=True, timeout=duration_s + GRACE_S)
    except subprocess.TimeoutExpired as exc:
        raise LoadgenError(f"the load run did not finish within {duration_s + GRACE_S:g}s") from exc
    if proc.returncode != 0:
        raise LoadgenError(f"the load run failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    result = json.loads(proc.stdout)
    return LoadReport(
        base_url=base_url, users=users, duration_s=duration_s,
        requests=result["requests"], failures=result["failures"], rps=result["rps"],
        endpoints=[EndpointStats(**e) for e in result["endpoints"]], errors=result["errors"],
    )
