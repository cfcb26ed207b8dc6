"""A token bucket that keeps one backend within its `rate_per_second`.

It runs on the injected clock (`monotonic` and `sleep`), so a FakeClock test sees the waits as
advances of fake time. A request larger than the bucket is allowed to go into debt: the caller
waits for the debt, so a 500-message batch at 100/s waits 5 s instead of never fitting.
"""

from __future__ import annotations

import asyncio

from mailconsole.clock import Clock


class TokenBucket:
    """`rate` tokens per second, holding at most `burst` (one second's worth by default)."""

    def __init__(self, rate: float | None, clock: Clock, *, burst: float | None = None) -> None:
        self.rate = rate
        self.clock = clock
        self.burst = max(1.0, burst if burst is not None else (rate or 1.0))
        self._tokens = self.burst
        self._stamp = clock.monotonic()
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return not self.rate

    def _refill(self) -> None:
        now = self.clock.monotonic()
        assert self.rate
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self, n: float) -> float:
        """Take `n` tokens now; returns how long the caller must wait before using them."""
        if self.unlimited or n <= 0:
            return 0.0
        assert self.rate
        self._refill()
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, n: float) -> float:
        """Wait until `n` tokens are ours; returns the seconds waited (on the injected clock)."""
        async with self._lock:
            wait = self.reserve(n)
        if wait > 0:
            await self.clock.sleep(wait)
        return wait
