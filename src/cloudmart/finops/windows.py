"""Kubecost window and duration syntax → half-open UTC time ranges [start, end).

Accepted: `Nd`, `Nh`, `Nm`, `Nw` (ending at now rounded *up* to the unit, so `7d` is today
plus the previous six days), `today`, `yesterday`, `week` (from Sunday), `lastweek`, `month`,
`lastmonth`, RFC3339 pairs (`2024-01-01T00:00:00Z,2024-01-02T00:00:00Z`), unix-second pairs,
and `<duration> offset <duration>`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


class WindowError(ValueError):
    """A window or duration parameter that cannot be parsed; the message says why."""


@dataclass(frozen=True)
class Window:
    start: float  # unix seconds, inclusive
    end: float  # unix seconds, exclusive

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0

    def split(self, step: float) -> list["Window"]:
        """Consecutive step sets covering the window (the last one may be shorter)."""
        out, t = [], self.start
        while t < self.end:
            out.append(Window(t, min(t + step, self.end)))
            t += step
        return out

    def iso(self) -> tuple[str, str]:
        return _iso(self.start), _iso(self.end)


@lru_cache(maxsize=4096)
def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> float:
    """`90s`, `5m`, `24h`, `7d`, `2w` → seconds (> 0)."""
    m = _DURATION.match(text.strip())
    if not m:
        raise WindowError(f"{text!r} is not a duration (expected a number followed by s, m, h, d or w, e.g. 1d)")
    seconds = float(m.group(1)) * UNIT_SECONDS[m.group(2)]
    if seconds <= 0:
        raise WindowError(f"duration {text!r} must be positive")
    return seconds


def _ceil(ts: float, unit: float) -> float:
    return math.ceil(ts / unit) * unit


def _midnight(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def _parse_time(text: str) -> float:
    t = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"{text!r} is neither an RFC3339 time (2024-01-01T00:00:00Z) nor unix seconds") from None
    if dt.tzinfo is None:
        raise WindowError(f"{text!r} has no time zone (append Z for UTC)")
    return dt.timestamp()


def parse_window(text: str, now: float | None = None) -> Window:
    if text is None or not text.strip():
        raise WindowError("window is empty")
    s = text.strip()
    now_ts = now if now is not None else datetime.now(timezone.utc).timestamp()
    now_dt = datetime.fromtimestamp(now_ts, timezone.utc)
    today = _midnight(now_dt)
    keyword = s.lower()
    if keyword == "today":
        return Window(today.timestamp(), (today + timedelta(days=1)).timestamp())
    if keyword == "yesterday":
        return Window((today - timedelta(days=1)).timestamp(), today.timestamp())
    if keyword in ("week", "lastweek"):
        sunday = today - timedelta(days=(today.weekday() + 1) % 7)
        if keyword == "lastweek":
            sunday -= timedelta(days=7)
        return Window(sunday.timestamp(), (sunday + timedelta(days=7)).timestamp())
    if keyword in ("month", "lastmonth"):
        first = today.replace(day=1)
        if keyword == "lastmonth":
            first = (first - timedelta(days=1)).replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return Window(first.timestamp(), nxt.timestamp())
    if "," in s:
        parts = s.split(",")
        if len(parts) != 2:
            raise WindowError(f"{text!r}: a window pair needs exactly two times separated by one comma")
        start, end = _parse_time(parts[0]), _parse_time(parts[1])
        if end <= start:
            raise WindowError(f"{text!r}: the end must be after the start")
        return Window(start, end)
    m = re.fullmatch(r"(\S+)\s+offset\s+(\S+)", s)
    if m:
        dur, off = parse_duration(m.group(1)), parse_duration(m.group(2))
        unit = UNIT_SECONDS[m.group(1)[-1]] if m.group(1)[-1] != "w" else UNIT_SECONDS["d"]
        end = _ceil(now_ts, unit) - off
        return Window(end - dur, end)
    if _DURATION.match(s):
        dur = parse_duration(s)
        unit = UNIT_SECONDS[s[-1]] if s[-1] != "w" else UNIT_SECONDS["d"]
        end = _ceil(now_ts, unit)
        return Window(end - dur, end)
    raise WindowError(
        f"{text!r} is not a window (use e.g. 1d, 24h, 7d, today, yesterday, week, lastweek, month, "
        "lastmonth, an RFC3339 pair or a unix pair)"
    )
