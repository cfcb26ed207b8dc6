"""The sandbox provider: deterministic under a seed and a fake clock, and able to simulate every
failure class the engine must handle (outages, a revoked token, inactive recipients, a quota)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backends.sandbox import SandboxBackend
from mailconsole.backend_api import BackendContext, Outcome, OutgoingMessage
from mailconsole.clock import FakeClock
from mailconsole.errors import ConfigError


def make(clock: FakeClock, **options: Any) -> SandboxBackend:
    return SandboxBackend.create(BackendContext(name="sandbox-test", options=options, clock=clock))


def batch(n: int, domain: str = "example.com", start: int = 1) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            id=i, from_addr="ops@example.com", to=(f"user{i}@{domain}",), subject=f"hello {i}"
        )
        for i in range(start, start + n)
    ]


async def test_same_seed_replays_the_same_outcomes_and_provider_ids(clock: FakeClock) -> None:
    opts = {"seed": 42, "failure_rate": 0.3, "permanent_rate": 0.1, "latency_ms": 0}
    first = await make(clock, **opts).send(batch(200))
    second = await make(clock, **opts).send(batch(200))
    assert first == second
    outcomes = {r.outcome for r in first}
    assert outcomes == {Outcome.SENT, Outcome.TRANSIENT, Outcome.PERMANENT}
    other = await make(clock, **{**opts, "seed": 43}).send(batch(200))
    assert [r.outcome for r in other] != [r.outcome for r in first]


async def test_failure_rates_are_roughly_honoured(clock: FakeClock) -> None:
    results = await make(clock, seed=1, failure_rate=0.2, permanent_rate=0.05, latency_ms=0).send(
        batch(5000)
    )
    transient = sum(r.outcome is Outcome.TRANSIENT for r in results) / 5000
    permanent = sum(r.outcome is Outcome.PERMANENT for r in results) / 5000
    assert 0.17 < transient < 0.23
    assert 0.035 < permanent < 0.065


async def test_error_mix_picks_only_the_configured_transient_codes(clock: FakeClock) -> None:
    backend = make(
        clock,
        seed=7,
        failure_rate=1.0,
        permanent_rate=0.0,
        error_mix={"http_429": 1, "smtp_421": 1},
    )
    results = await backend.send(batch(300))
    codes = {r.error_code for r in results}
    assert codes == {"http_429", "smtp_421"}
    assert all(r.outcome is Outcome.TRANSIENT for r in results)
    assert all(r.retry_after for r in results if r.error_code == "http_429")


async def test_latency_uses_the_injected_clock(clock: FakeClock) -> None:
    before = clock.now()
    await make(clock, latency_ms=250, failure_rate=0, permanent_rate=0).send(batch(3))
    assert clock.now() - before == timedelta(milliseconds=250)


async def test_fixed_outage_window_fails_every_message_with_503_then_recovers(
    clock: FakeClock,
) -> None:
    clock.set(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    backend = make(
        clock,
        latency_ms=0,
        failure_rate=0,
        permanent_rate=0,
        outage_windows=[{"start": "2026-03-01T10:00:00Z", "end": "2026-03-01T10:30:00Z"}],
    )
    assert all(r.ok for r in await backend.send(batch(5)))
    assert (await backend.health()).ok

    clock.set(datetime(2026, 3, 1, 10, 5, tzinfo=UTC))
    results = await backend.send(batch(5, start=10))
    assert [r.message_id for r in results] == [10, 11, 12, 13, 14]
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.TRANSIENT, "http_503")}
    health = await backend.health()
    assert not health.ok and health.error_code == "http_503"

    clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    assert all(r.ok for r in await backend.send(batch(5, start=20)))


async def test_periodic_outage_window_repeats(clock: FakeClock) -> None:
    clock.set(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))  # epoch phase 0 of every hour
    backend = make(
        clock,
        latency_ms=0,
        failure_rate=0,
        permanent_rate=0,
        outage_windows=[{"every_seconds": 3600, "duration_seconds": 300}],
    )
    assert not (await backend.send(batch(1)))[0].ok
    clock.advance(299)
    assert not (await backend.send(batch(1)))[0].ok
    clock.advance(1)
    assert (await backend.send(batch(1)))[0].ok
    clock.advance(3300)
    assert (await backend.send(batch(1)))[0].error_code == "http_503"


async def test_account_error_stops_the_whole_batch_as_account_failure(clock: FakeClock) -> None:
    backend = make(clock, account_error=True, latency_ms=0)
    results = await backend.send(batch(4))
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.ACCOUNT, "auth_error")}
    health = await backend.health()
    assert not health.ok and health.error_code == "auth_error"


async def test_inactive_domains_are_permanent_and_ask_for_suppression(clock: FakeClock) -> None:
    backend = make(
        clock, inactive_domains=["Inactive.Example"], failure_rate=0, permanent_rate=0, latency_ms=0
    )
    msgs = [*batch(2), *batch(2, domain="inactive.example", start=3)]
    results = await backend.send(msgs)
    assert [r.outcome for r in results] == [
        Outcome.SENT,
        Outcome.SENT,
        Outcome.PERMANENT,
        Outcome.PERMANENT,
    ]
    assert results[2].suppress_recipients and results[2].provider_code == "sandbox:406"
    assert not results[0].suppress_recipients
    assert results[0].provider_message_id and results[0].provider_message_id.startswith("sandbox-")


async def test_daily_quota_counts_the_last_24_hours_and_stops_the_account(
    clock: FakeClock,
) -> None:
    backend = make(clock, daily_quota=10, failure_rate=0, permanent_rate=0, latency_ms=0)
    assert await make(clock, latency_ms=0).quota() is None
    await backend.send(batch(6))
    quota = await backend.quota()
    assert quota is not None and quota.sent_last_24h == 6 and quota.used_fraction == 0.6
    refused = await backend.send(batch(5, start=10))
    assert {(r.outcome, r.error_code) for r in refused} == {(Outcome.ACCOUNT, "quota_exceeded")}
    clock.advance(hours=24, seconds=1)
    assert all(r.ok for r in await backend.send(batch(5, start=10)))
    assert (await backend.quota()).sent_last_24h == 5  # type: ignore[union-attr]


async def test_accepted_counter_records_each_delivery(clock: FakeClock) -> None:
    backend = make(clock, failure_rate=0, permanent_rate=0, latency_ms=0)
    await backend.send(batch(3))
    await backend.send(batch(1, start=2))
    assert backend.accepted == {1: 1, 2: 2, 3: 1}
    assert backend.requests == 2


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"latncy_ms": 5}, "accounts.sandbox-test.latncy_ms"),
        ({"failure_rate": 1.5}, "accounts.sandbox-test.failure_rate"),
        ({"error_mix": {"http_400": 1}}, "accounts.sandbox-test.error_mix"),
        (
            {"outage_windows": [{"start": "2026-01-01T00:00:00Z"}]},
            "accounts.sandbox-test.outage_windows.0",
        ),
        ({"failure_rate": 0.8, "permanent_rate": 0.5}, "accounts.sandbox-test"),
    ],
)
def test_bad_options_name_the_key(clock: FakeClock, options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        make(clock, **options)
    assert str(err.value).startswith(key)
    assert "\n" not in str(err.value)


def test_common_account_keys_are_accepted_and_set_limits(clock: FakeClock) -> None:
    backend = make(
        clock,
        **{
            "from": "ops@example.com",
            "batch_size": 25,
            "max_connections": 2,
            "rate_per_second": 10.0,
            "fallback": "other",
            "enabled": True,
        },
    )
    assert (backend.limits.batch_size, backend.limits.max_connections) == (25, 2)
    assert backend.limits.rate_per_second == 10.0
    assert make(clock).limits.batch_size == 100
