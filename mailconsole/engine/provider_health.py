"""The provider health/quota job: ask every enabled account how it is, keep the answer in the store.

The Dashboard and `health check` read `backend_state.health_*` and `quota_*` instead of calling
providers themselves, so a slow provider never slows a screen and every viewer sees the same
answer. A backend that cannot be built is reported unhealthy with that reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mailconsole.backend_api import HealthStatus, Quota
from mailconsole.context import AppContext
from mailconsole.engine import circuit
from mailconsole.engine.backends import BackendRegistry


async def refresh_provider_health(
    ctx: AppContext, registry: BackendRegistry
) -> dict[str, dict[str, Any]]:
    """Check health (and quota where supported) of every enabled account; returns a summary."""
    health, quotas = await asyncio.gather(registry.health_all(), registry.quota_all())
    await asyncio.to_thread(_store, ctx, health, quotas)
    return {
        name: {
            "ok": status.ok,
            "detail": status.detail,
            "quota_sent": quotas.get(name).sent_last_24h if quotas.get(name) else None,  # type: ignore[union-attr]
            "quota_max": quotas.get(name).max_24h if quotas.get(name) else None,  # type: ignore[union-attr]
        }
        for name, status in health.items()
    }


def _store(
    ctx: AppContext, health: dict[str, HealthStatus], quotas: dict[str, Quota | None]
) -> None:
    now = ctx.clock.now()
    with ctx.db.writing() as s:
        circuit.ensure_states(s, health, now)
        for name, status in sorted(health.items()):
            state = circuit.locked_state(s, name, now)
            state.health_ok = status.ok
            state.health_detail = (status.detail or "")[:2000]
            state.health_error_code = status.error_code
            state.health_latency_ms = status.latency_ms
            state.health_checked_at = now
            quota = quotas.get(name)
            if quota is not None:
                state.quota_sent = quota.sent_last_24h
                state.quota_max = quota.max_24h
                state.quota_checked_at = now
            s.add(state)
