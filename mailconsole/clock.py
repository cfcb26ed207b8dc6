"""Time is injected, so the engine, the alerts and the snapshots can run on a fake clock.

Every timestamp in mailconsole is timezone-aware UTC. Code never calls `datetime.now()` itself:
it asks a `Clock`, which tests replace with `FakeClock`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time (UTC, aware) and of sleeping."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to; `sleep` advances it instead of waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = ensure_utc(start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        step = timedelta(seconds=seconds, **delta)
        self._now += step
        self._mono += step.total_seconds()
        return self._now

    def set(self, when: datetime) -> None:
        when = ensure_utc(when)
        self._mono += (when - self._now).total_seconds()
        self._now = when

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)

    def monotonic(self) -> float:
        return self._mono


SYSTEM_CLOCK = SystemClock()


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Return `value` as aware UTC; a naive value is taken to be UTC already (as stored)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_duration(text: str) -> timedelta:
    """Parse `90`, `90s`, `15m`, `2h`, `7d`, `1w` or `1h30m` into a timedelta.

    Raises ValueError with a message that shows the accepted forms.
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    raw = text.strip().lower()
    if not raw:
        raise ValueError("empty duration: use e.g. 90s, 15m, 2h, 7d")
    if raw.isdigit():
        return timedelta(seconds=int(raw))
    total = 0.0
    number = ""
    for ch in raw:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += float(number) * units[ch]
            number = ""
        else:
            raise ValueError(f"bad duration {text!r}: use e.g. 90s, 15m, 2h, 7d")
    if number:
        raise ValueError(f"bad duration {text!r}: a number needs a unit (s, m, h, d, w)")
    return timedelta(seconds=total)


def format_duration(seconds: float | None) -> str:
    """Human form for ages and durations: `45s`, `12m`, `3h 05m`, `2d 04h`."""
    if seconds is None:
        return "—"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600:02d}h"
