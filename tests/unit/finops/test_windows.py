from datetime import datetime, timezone

import pytest

from cloudmart.finops.windows import WindowError, parse_duration, parse_window


def ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


NOW = ts("2026-01-14T10:30:00Z")  # a Wednesday


@pytest.mark.parametrize(
    "text,start,end",
    [
        ("1d", "2026-01-14T00:00:00Z", "2026-01-15T00:00:00Z"),
        ("7d", "2026-01-08T00:00:00Z", "2026-01-15T00:00:00Z"),
        ("24h", "2026-01-13T11:00:00Z", "2026-01-14T11:00:00Z"),
        ("30m", "2026-01-14T10:00:00Z", "2026-01-14T10:30:00Z"),
        ("2w", "2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z"),
        ("today", "2026-01-14T00:00:00Z", "2026-01-15T00:00:00Z"),
        ("yesterday", "2026-01-13T00:00:00Z", "2026-01-14T00:00:00Z"),
        ("week", "2026-01-11T00:00:00Z", "2026-01-18T00:00:00Z"),
        ("lastweek", "2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"),
        ("month", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("lastmonth", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("2026-01-01T00:00:00Z,2026-01-02T12:00:00Z", "2026-01-01T00:00:00Z", "2026-01-02T12:00:00Z"),
        ("1767225600,1767312000", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("1d offset 1d", "2026-01-13T00:00:00Z", "2026-01-14T00:00:00Z"),
    ],
)
def test_windows(text, start, end):
    w = parse_window(text, now=NOW)
    assert (w.start, w.end) == (ts(start), ts(end))


@pytest.mark.parametrize("text", ["", "1x", "d1", "-1d", "2026-01-02T00:00:00Z,2026-01-01T00:00:00Z", "a,b", "1,2,3", "2026-01-01T00:00:00,2026-01-02T00:00:00", "0d"])
def test_bad_windows(text):
    with pytest.raises(WindowError):
        parse_window(text, now=NOW)


def test_split_and_durations():
    w = parse_window("7d", now=NOW)
    parts = w.split(parse_duration("1d"))
    assert len(parts) == 7 and parts[0].start == w.start and parts[-1].end == w.end
    assert sum(p.seconds for p in w.split(5 * 3600)) == w.seconds  # last step is shorter
    assert parse_duration("90s") == 90
