"""The backends of the configured accounts, built once and shared by every dispatch run.

`get(name)` builds an account's backend on first use: its class from the entry-point group, its
options from the config file, its secret from the keyring or the environment, the process's shared
`httpx.AsyncClient`, the injected clock. A backend that cannot be built (unknown type, bad option,
missing secret) raises a `MailconsoleError` with one line saying what to fix; nothing is cached
then, so the next probe tries again after the operator fixes it. `invalidate(name)` drops a built
backend (after an account error: the fixed token is read on the next build).
`ctx.backend_overrides[name]` wins over all of this (tests, the demo).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import httpx

from mailconsole.backend_api import Backend, BackendContext, HealthStatus, Quota, load_backend_class
from mailconsole.context import AppContext
from mailconsole.engine.ratelimit import TokenBucket
from mailconsole.errors import ConfigError, MailconsoleError, SecretError

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 20.0


class BackendRegistry:
    """Builds and caches one backend per account; owns the shared HTTP client it hands them."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._built: dict[str, Backend] = {}
        self._http: httpx.AsyncClient | None = None
        self._retired: list[Backend] = []
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def names(self) -> list[str]:
        return list(self.ctx.config.accounts)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = self.ctx.http_factory()
        return self._http

    def get(self, name: str) -> Backend:
        """The backend for account `name`; MailconsoleError (one line) when it cannot be built."""
        override = self.ctx.backend_overrides.get(name)
        if override is not None:
            return override  # type: ignore[no-any-return]
        cached = self._built.get(name)
        if cached is not None:
            return cached
        backend = self._build(name)
        self._built[name] = backend
        return backend

    def _build(self, name: str) -> Backend:
        config = self.ctx.config
        account = config.accounts.get(name)
        if account is None:
            known = ", ".join(sorted(config.accounts)) or "none configured"
            raise ConfigError(f"no account named {name!r} in the config (accounts: {known})")
        cls = load_backend_class(account.type)
        secret = self.ctx.secrets.get(name)
        if getattr(cls, "needs_secret", False) and not secret:
            self.ctx.secrets.require(name)  # raises SecretError saying what to do
            raise SecretError(f"no secret for account {name!r}")  # pragma: no cover
        context = BackendContext(
            name=name,
            options=account.backend_options(),
            secret=secret,
            http=self._client(),
            clock=self.ctx.clock,
            default_from=account.from_addr,
        )
        try:
            return cls.create(context)
        except MailconsoleError:
            raise
        except Exception as exc:  # a third-party backend's bug must not stop the others
            raise ConfigError(
                f"account {name!r} ({account.type}) could not be built: {type(exc).__name__}: {exc}"
            ) from None

    def bucket(self, name: str, rate: float | None) -> TokenBucket:
        """The account's rate limiter, kept across dispatch runs so the rate holds between them."""
        bucket = self._buckets.get(name)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[name] = TokenBucket(rate, self.ctx.clock)
        return bucket

    def invalidate(self, name: str) -> None:
        """Forget the built backend so the next `get` builds it afresh (new secret, new options)."""
        backend = self._built.pop(name, None)
        if backend is not None:
            self._retired.append(backend)

    def built(self) -> Iterable[str]:
        return tuple(self._built)

    async def health(self, name: str, *, timeout: float = HEALTH_TIMEOUT_S) -> HealthStatus:
        """The account's health; never raises: a build failure or a hang is an unhealthy status."""
        start = time.monotonic()
        try:
            backend = self.get(name)
        except MailconsoleError as exc:
            return HealthStatus(ok=False, detail=str(exc), error_code="config_error")
        try:
            return await asyncio.wait_for(backend.health(), timeout)
        except TimeoutError:
            return HealthStatus(
                ok=False,
                detail=f"health check did not answer within {timeout:.0f} s",
                error_code="timeout",
                latency_ms=(time.monotonic() - start) * 1000,
            )
        except Exception as exc:
            return HealthStatus(
                ok=False, detail=f"{type(exc).__name__}: {exc}", error_code="backend_error"
            )

    async def health_all(self) -> dict[str, HealthStatus]:
        names = [n for n, a in self.ctx.config.accounts.items() if a.enabled]
        results = await asyncio.gather(*(self.health(n) for n in names))
        return dict(zip(names, results, strict=True))

    async def quota(self, name: str, *, timeout: float = HEALTH_TIMEOUT_S) -> Quota | None:
        """The account's quota, or None (no quota, cannot build, or the provider failed)."""
        try:
            backend = self.get(name)
            if not getattr(backend, "supports_quota", False):
                return None
            return await asyncio.wait_for(backend.quota(), timeout)
        except Exception as exc:
            log.info("quota of %s unavailable: %s", name, exc)
            return None

    async def quota_all(self) -> dict[str, Quota | None]:
        names = [n for n, a in self.ctx.config.accounts.items() if a.enabled]
        results = await asyncio.gather(*(self.quota(n) for n in names))
        return dict(zip(names, results, strict=True))

    async def aclose(self) -> None:
        """Close the backends this registry built (never overrides) and the shared client."""
        backends = [*self._built.values(), *self._retired]
        self._built.clear()
        self._retired.clear()
        for backend in backends:
            try:
                await backend.aclose()
            except Exception:
                log.warning(
                    "closing backend %s failed", getattr(backend, "name", "?"), exc_info=True
                )
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()
