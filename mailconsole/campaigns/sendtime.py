"""Reading a send time as operators type it, in the CLI and the schedule dialog alike."""

from __future__ import annotations

from datetime import datetime

from mailconsole.clock import ensure_utc, parse_duration
from mailconsole.errors import ValidationError


def parse_send_at(text: str, now: datetime) -> datetime:
    """When to send: `+2h` / `in 90m` (from now), or a UTC date-time such as `2026-11-21 09:00`,
    `2026-11-21T09:00Z` or one with an offset. A time without a zone is UTC."""
    raw = (text or "").strip()
    if not raw:
        raise ValidationError("give a send time: e.g. 2026-11-21 09:00 (UTC) or +2h")
    lowered = raw.lower()
    if lowered.startswith(("+", "in ")):
        span = lowered[1:] if lowered.startswith("+") else lowered[3:]
        try:
            return now + parse_duration(span.replace(" ", ""))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    cleaned = raw.removesuffix("UTC").removesuffix("utc").strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(cleaned.replace(" ", "T", 1))
    except ValueError:
        raise ValidationError(
            f"send time {raw!r}: use YYYY-MM-DD HH:MM (UTC), an ISO time with a zone, or +2h"
        ) from None
    return ensure_utc(when)
