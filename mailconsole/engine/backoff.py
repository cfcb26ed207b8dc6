"""When a transiently failed message is tried again: exponential backoff with jitter.

Attempt n failed → wait `base × 2^(n-1)`, capped at `cap`, then spread by ±`jitter` so a batch
that failed together does not come back together. A provider's `retry_after` wins when it asks
for longer.
"""

from __future__ import annotations

import random

from mailconsole.config import RetryConfig

_rng = random.Random()


def nominal_delay(retry: RetryConfig, attempt: int) -> float:
    """The delay before jitter, for the attempt number that just failed (1-based)."""
    exponent = max(0, attempt - 1)
    if exponent > 62:  # 2**63 overflows any cap anyway
        return retry.cap_seconds
    return min(retry.cap_seconds, retry.base_seconds * (2**exponent))


def retry_delay(
    retry: RetryConfig,
    attempt: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next try after attempt `attempt` failed transiently."""
    base = nominal_delay(retry, attempt)
    spread = (rng or _rng).uniform(-retry.jitter, retry.jitter) if retry.jitter else 0.0
    delay = base * (1.0 + spread)
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    return max(0.0, delay)


def exhausted(retry: RetryConfig, attempt: int) -> bool:
    """True when attempt `attempt` was the last one allowed: the message goes dead."""
    return attempt >= retry.max_attempts
