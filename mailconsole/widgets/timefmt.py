"""Times as the console shows them: relative to the injected clock, so snapshots stay stable."""

from __future__ import annotations

from datetime import datetime

from mailconsole.clock import ensure_utc, format_duration


def ago(when: datetime | None, now: datetime) -> str:
    """`3m 05s ago`, `in 40s`, or `—`."""
    if when is None:
        return "—"
    delta = (ensure_utc(now) - ensure_utc(when)).total_seconds()
    if abs(delta) < 1:
        return "now"
    if delta < 0:
        return f"in {format_duration(-delta)}"
    return f"{format_duration(delta)} ago"


def stamp(when: datetime | None) -> str:
    """An absolute UTC time, compact: `11-28 14:05Z`."""
    if when is None:
        return "—"
    return ensure_utc(when).strftime("%m-%d %H:%MZ")


def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def next_attempt_text(when: datetime | None, now: datetime) -> str:
    """The queue's next attempt: `next attempt in 40s`, or `due now` when it is overdue."""
    if when is None:
        return "nothing waiting"
    if ensure_utc(when) <= ensure_utc(now):
        return "next attempt: due now"
    return f"next attempt {ago(when, now)}"
