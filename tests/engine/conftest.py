"""Engine test helpers: a context over the `db` fixture, a scripted backend, queue inspection."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest
from sqlmodel import select

from mailconsole.backend_api import (
    BackendContext,
    BackendLimits,
    HealthStatus,
    Outcome,
    OutgoingMessage,
    Quota,
    SendResult,
)
from mailconsole.clock import FakeClock
from mailconsole.config import Config
from mailconsole.context import AppContext
from mailconsole.engine.enqueue import enqueue_many
from mailconsole.store.db import Database
from mailconsole.store.models import BackendState, DeliveryAttempt, Message, Outage
from tests.conftest import make_config

Script = Callable[[OutgoingMessage], SendResult]


def ok(m: OutgoingMessage) -> SendResult:
    return SendResult(message_id=m.id, outcome=Outcome.SENT, provider_message_id=f"pm-{m.id}")


def transient(code: str = "http_503", retry_after: float | None = None) -> Script:
    def script(m: OutgoingMessage) -> SendResult:
        return SendResult(
            message_id=m.id,
            outcome=Outcome.TRANSIENT,
            error_code=code,
            provider_code="fake:5xx",
            error_message=f"fake {code}",
            retry_after=retry_after,
        )

    return script


class ScriptedBackend:
    """A backend whose answer per message is a function the test swaps at will.

    `gate`, when set, makes `send` wait for it (to hold a batch in flight); `calls` records
    every batch's message ids; `in_flight`/`max_in_flight` measure concurrency.
    """

    kind: ClassVar[str] = "scripted"
    needs_secret: ClassVar[bool] = False
    supports_quota: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        *,
        script: Script = ok,
        batch_size: int = 50,
        max_connections: int = 1,
        rate_per_second: float | None = None,
        clock: FakeClock | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.name = name
        self.limits = BackendLimits(batch_size, max_connections, rate_per_second)
        self.script = script
        self.calls: list[list[int]] = []
        self.attempts: list[list[int]] = []
        self.call_times: list[float] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.raise_exc: Exception | None = None
        self.drop_results = False
        self.clock = clock
        self.latency_s = latency_s
        self.in_flight = 0
        self.max_in_flight = 0

    @classmethod
    def create(
        cls, context: BackendContext
    ) -> ScriptedBackend:  # pragma: no cover - overrides only
        return cls(context.name)

    async def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.calls.append([m.id for m in batch])
        self.attempts.append([m.attempt for m in batch])
        if self.clock is not None:
            self.call_times.append(self.clock.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            if self.raise_exc is not None:
                raise self.raise_exc
            results = [self.script(m) for m in batch]
            return results[:-1] if self.drop_results else results
        finally:
            self.in_flight -= 1

    async def health(self) -> HealthStatus:
        return HealthStatus(ok=True, detail="scripted")

    async def quota(self) -> Quota | None:
        return None

    async def aclose(self) -> None:
        return None

    @property
    def sent_ids(self) -> list[int]:
        return [i for batch in self.calls for i in batch]


def sandbox_account(**options: Any) -> dict[str, Any]:
    return {"type": "sandbox", "from": "ops@example.com", "latency_ms": 0, "failure_rate": 0.0,
            "permanent_rate": 0.0, **options}  # fmt: skip


def engine_config(
    accounts: dict[str, dict[str, Any]] | None = None,
    *,
    primary: str | None = "main",
    fallback: str | None = None,
    fallback_enabled: bool = False,
    retry: dict[str, Any] | None = None,
    dispatch: dict[str, Any] | None = None,
) -> Config:
    routing: dict[str, Any] = {"primary": primary, "fallback_enabled": fallback_enabled}
    if fallback:
        routing["fallback"] = fallback
    return make_config(
        accounts=accounts or {"main": sandbox_account()},
        routing=routing,
        retry={
            "base_seconds": 60,
            "cap_seconds": 3600,
            "max_attempts": 5,
            "jitter": 0.2,
            **(retry or {}),
        },
        dispatch=dispatch or {},
    )


def make_ctx(db: Database, clock: FakeClock, config: Config, **overrides: Any) -> AppContext:
    return AppContext(config=config, db=db, clock=clock, backend_overrides=dict(overrides))


def enqueue(ctx: AppContext, n: int, **fields: Any) -> list[int]:
    def item(i: int) -> dict[str, Any]:
        data = {"to": f"user{i}@example.com", "subject": f"message {i}", "text": "hello"}
        data.update(fields)
        return data

    report = enqueue_many(ctx, [(i, item(i)) for i in range(n)])
    assert report.accepted == n, report.errors
    return report.ids


def messages(ctx: AppContext, ids: Sequence[int] | None = None) -> dict[int, Message]:
    with ctx.db.reading() as s:
        q = select(Message)
        if ids is not None:
            q = q.where(Message.id.in_(list(ids)))  # type: ignore[union-attr]
        return {m.id: m for m in s.exec(q).all()}  # type: ignore[misc]


def statuses(ctx: AppContext) -> Counter[str]:
    return Counter(m.status for m in messages(ctx).values())


def attempts_of(ctx: AppContext, message_id: int) -> list[DeliveryAttempt]:
    with ctx.db.reading() as s:
        return list(
            s.exec(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.message_id == message_id)
                .order_by(DeliveryAttempt.id)  # type: ignore[arg-type]
            ).all()
        )


def all_attempts(ctx: AppContext) -> list[DeliveryAttempt]:
    with ctx.db.reading() as s:
        return list(s.exec(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).all())  # type: ignore[arg-type]


def state_of(ctx: AppContext, backend: str) -> BackendState | None:
    with ctx.db.reading() as s:
        return s.get(BackendState, backend)


def outages(ctx: AppContext, backend: str | None = None) -> list[Outage]:
    with ctx.db.reading() as s:
        q = select(Outage).order_by(Outage.id)  # type: ignore[arg-type]
        if backend:
            q = q.where(Outage.backend == backend)
        return list(s.exec(q).all())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
