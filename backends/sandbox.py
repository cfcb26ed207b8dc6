"""A simulated provider for the demo, the tests and rehearsals: it never opens a socket.

It behaves like a real account closely enough to exercise every path of the engine — transient
failures in a configurable mix, permanent rejects, inactive recipients to suppress, outages in
time windows, a revoked token, a daily quota — and it is deterministic under a `seed` and an
injected clock, so tests and the demo replay the same story.

Error codes follow DESIGN.md: request-level failures are `http_<status>` (an outage is `http_503`
for the whole batch), per-message rejects are `provider_reject` with provider code `sandbox:300`
(invalid request) or `sandbox:406` (inactive recipient, `suppress_recipients=True`), a revoked
token is `auth_error` (ACCOUNT), and an exhausted `daily_quota` is `quota_exceeded` (ACCOUNT).

Every random draw for a batch happens before its simulated latency, so concurrent sends on one
backend stay deterministic in the order they were called.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backends._options import BackendOptions, parse_options
from mailconsole.backend_api import (
    BackendContext,
    BackendLimits,
    HealthStatus,
    Outcome,
    OutgoingMessage,
    Quota,
    SendResult,
    classify_http_status,
    classify_smtp_reply,
    failed_batch,
)
from mailconsole.clock import Clock

DEFAULT_ERROR_MIX = {"http_503": 3.0, "http_429": 1.0, "timeout": 1.0}
NETWORK_CODES = ("timeout", "connect_error", "tls_error")
RETRY_AFTER_429 = 2.0
DAY = timedelta(hours=24)


def _is_transient_code(code: str) -> bool:
    if code in NETWORK_CODES:
        return True
    if m := re.fullmatch(r"http_(\d{3})", code):
        return classify_http_status(int(m.group(1))) is Outcome.TRANSIENT
    if m := re.fullmatch(r"smtp_(\d{3})", code):
        return classify_smtp_reply(int(m.group(1))) is Outcome.TRANSIENT
    return False


class OutageWindow(BaseModel):
    """Either a fixed window (`start`, `end`) or a periodic one (`every_seconds`, `duration_seconds`).

    A periodic window opens whenever `(epoch seconds - offset_seconds) % every_seconds` is below
    `duration_seconds`, so it needs no state and agrees across processes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime | None = None
    end: datetime | None = None
    every_seconds: float | None = Field(default=None, gt=0)
    duration_seconds: float | None = Field(default=None, gt=0)
    offset_seconds: float = 0.0

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _one_shape(self) -> OutageWindow:
        fixed = self.start is not None or self.end is not None
        periodic = self.every_seconds is not None or self.duration_seconds is not None
        if fixed == periodic:
            raise ValueError(
                "an outage window is either {start, end} (ISO-8601 UTC) "
                "or {every_seconds, duration_seconds}"
            )
        if fixed:
            if self.start is None or self.end is None:
                raise ValueError("a fixed outage window needs both start and end")
            if self.end <= self.start:
                raise ValueError("an outage window's end must be after its start")
        else:
            if self.every_seconds is None or self.duration_seconds is None:
                raise ValueError(
                    "a periodic outage window needs every_seconds and duration_seconds"
                )
            if self.duration_seconds >= self.every_seconds:
                raise ValueError("duration_seconds must be shorter than every_seconds")
        return self

    def ends_after(self, now: datetime) -> datetime | None:
        """The end of the window `now` falls in, or None when it falls in none."""
        if self.start is not None and self.end is not None:
            return self.end if self.start <= now < self.end else None
        assert self.every_seconds is not None and self.duration_seconds is not None
        phase = (now.timestamp() - self.offset_seconds) % self.every_seconds
        if phase < self.duration_seconds:
            return now + timedelta(seconds=self.duration_seconds - phase)
        return None


class SandboxOptions(BackendOptions):
    latency_ms: float = Field(default=20.0, ge=0, le=60_000)
    failure_rate: float = Field(default=0.02, ge=0, le=1)
    permanent_rate: float = Field(default=0.005, ge=0, le=1)
    error_mix: dict[str, float] | None = None
    outage_windows: list[OutageWindow] = Field(default_factory=list)
    account_error: bool = False
    inactive_domains: list[str] = Field(default_factory=list)
    seed: int | None = None
    daily_quota: int | None = Field(default=None, ge=1)

    @field_validator("error_mix")
    @classmethod
    def _mix(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("error_mix needs at least one code, e.g. {http_503 = 3, timeout = 1}")
        for code, weight in value.items():
            if not _is_transient_code(code):
                raise ValueError(
                    f"{code!r} is not a transient error code "
                    "(use http_429, http_5xx, smtp_4xx, timeout, connect_error or tls_error)"
                )
            if weight <= 0:
                raise ValueError(f"weight of {code!r} must be positive")
        return value

    @field_validator("inactive_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value]

    @model_validator(mode="after")
    def _rates(self) -> SandboxOptions:
        if self.failure_rate + self.permanent_rate > 1:
            raise ValueError("failure_rate + permanent_rate must not exceed 1")
        return self


class SandboxBackend:
    """A provider simulated in memory; see the module docstring for what it can be told to do."""

    kind: ClassVar[str] = "sandbox"
    needs_secret: ClassVar[bool] = False
    supports_quota: ClassVar[bool] = True

    def __init__(self, name: str, options: SandboxOptions, clock: Clock) -> None:
        self.name = name
        self.options = options
        self.limits = BackendLimits(
            batch_size=options.batch_size or 100,
            max_connections=options.max_connections or 4,
            rate_per_second=options.rate_per_second,
        )
        self._clock = clock
        self._rng = random.Random(options.seed)
        self._mix_codes = list((options.error_mix or DEFAULT_ERROR_MIX).keys())
        self._mix_weights = list((options.error_mix or DEFAULT_ERROR_MIX).values())
        self._inactive = frozenset(options.inactive_domains)
        self._sent_log: deque[tuple[datetime, int]] = deque()
        # What tests and the demo look at: how often each message id was accepted (exactly-once
        # checks), and plain counters.
        self.accepted: Counter[int] = Counter()
        self.requests = 0
        self.closed = False

    @classmethod
    def create(cls, context: BackendContext) -> SandboxBackend:
        options = parse_options(SandboxOptions, context.name, cls.kind, context.options)
        return cls(context.name, options, context.clock)

    # --- sending -------------------------------------------------------------------------------

    async def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not batch:
            return []
        self.requests += 1
        now = self._clock.now()
        results = self._decide(batch, now)
        if self.options.latency_ms:
            await self._clock.sleep(self.options.latency_ms / 1000.0)
        accepted = [r.message_id for r in results if r.outcome is Outcome.SENT]
        if accepted:
            self._sent_log.append((self._clock.now(), len(accepted)))
            self.accepted.update(accepted)
        return results

    def _decide(self, batch: Sequence[OutgoingMessage], now: datetime) -> list[SendResult]:
        if self.options.account_error:
            return failed_batch(
                batch,
                Outcome.ACCOUNT,
                "auth_error",
                "sandbox: the server token was rejected (account_error = true)",
                provider_code="sandbox:10",
            )
        until = self._outage_end(now)
        if until is not None:
            return failed_batch(
                batch,
                Outcome.TRANSIENT,
                "http_503",
                f"sandbox: simulated outage until {until.isoformat(timespec='seconds')}",
                provider_code="sandbox:outage",
            )
        if self.options.daily_quota is not None:
            used = self._sent_since(now - DAY)
            if used + len(batch) > self.options.daily_quota:
                return failed_batch(
                    batch,
                    Outcome.ACCOUNT,
                    "quota_exceeded",
                    f"sandbox: daily quota of {self.options.daily_quota} messages reached "
                    f"({used} sent in the last 24 h)",
                    provider_code="sandbox:quota",
                )
        return [self._one(m) for m in batch]

    def _one(self, message: OutgoingMessage) -> SendResult:
        # Always the same three draws per message, so one outcome never shifts the next ones.
        draw = self._rng.random()
        mix_draw = self._rng.random()
        provider_id = f"sandbox-{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
        recipients = message.recipients
        inactive = [a for a in recipients if a.rsplit("@", 1)[-1].lower() in self._inactive]
        if inactive and len(inactive) == len(recipients):
            return SendResult(
                message_id=message.id,
                outcome=Outcome.PERMANENT,
                error_code="provider_reject",
                provider_code="sandbox:406",
                error_message=f"sandbox: inactive recipient(s): {', '.join(inactive)}",
                suppress_recipients=True,
            )
        permanent = self.options.permanent_rate
        if draw < permanent:
            return SendResult(
                message_id=message.id,
                outcome=Outcome.PERMANENT,
                error_code="provider_reject",
                provider_code="sandbox:300",
                error_message="sandbox: simulated invalid email request",
            )
        if draw < permanent + self.options.failure_rate:
            code = self._pick_code(mix_draw)
            return SendResult(
                message_id=message.id,
                outcome=Outcome.TRANSIENT,
                error_code=code,
                provider_code="sandbox:simulated",
                error_message=f"sandbox: simulated transient failure ({code})",
                retry_after=RETRY_AFTER_429 if code == "http_429" else None,
            )
        note = (
            f"sandbox: skipped inactive recipient(s): {', '.join(inactive)}" if inactive else None
        )
        return SendResult(
            message_id=message.id,
            outcome=Outcome.SENT,
            provider_message_id=provider_id,
            error_message=note,
        )

    def _pick_code(self, draw: float) -> str:
        total = sum(self._mix_weights)
        point = draw * total
        for code, weight in zip(self._mix_codes, self._mix_weights, strict=True):
            if point < weight:
                return code
            point -= weight
        return self._mix_codes[-1]

    # --- state ---------------------------------------------------------------------------------

    def _outage_end(self, now: datetime) -> datetime | None:
        ends = [e for w in self.options.outage_windows if (e := w.ends_after(now)) is not None]
        return max(ends) if ends else None

    def _sent_since(self, since: datetime) -> int:
        while self._sent_log and self._sent_log[0][0] < since:
            self._sent_log.popleft()
        return sum(n for _, n in self._sent_log)

    async def health(self) -> HealthStatus:
        latency = self.options.latency_ms
        if self.options.account_error:
            return HealthStatus(
                ok=False,
                detail="sandbox: the server token was rejected (account_error = true)",
                error_code="auth_error",
                latency_ms=latency,
            )
        until = self._outage_end(self._clock.now())
        if until is not None:
            return HealthStatus(
                ok=False,
                detail=f"sandbox: simulated outage until {until.isoformat(timespec='seconds')}",
                error_code="http_503",
                latency_ms=latency,
            )
        return HealthStatus(
            ok=True, detail="sandbox: simulated provider accepting mail", latency_ms=latency
        )

    async def quota(self) -> Quota | None:
        if self.options.daily_quota is None:
            return None
        sent = self._sent_since(self._clock.now() - DAY)
        return Quota(
            sent_last_24h=float(sent),
            max_24h=float(self.options.daily_quota),
            max_rate=self.options.rate_per_second,
        )

    async def aclose(self) -> None:
        self.closed = True
