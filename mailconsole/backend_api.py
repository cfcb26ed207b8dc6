"""The contract between the delivery engine and a provider backend.

A backend is a plugin: a class registered under the entry-point group `mailconsole.backends`
(see pyproject.toml), built once per configured account by `create(context)`. It knows nothing of
the store, the scheduler or Textual: it turns a batch of `OutgoingMessage` into one `SendResult`
per message — never all-or-nothing — and classifies each failure (see DESIGN.md, Error codes), so
the engine can retry, dead-letter or stop the whole account.

Exceptions: `send` should not raise for provider or network failures; it returns results with
`Outcome.TRANSIENT`/`ACCOUNT`. An exception escaping `send` is treated by the engine as a transient
`backend_error` for every message in the batch. `create` raises `ConfigError` for bad options.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from mailconsole.clock import SYSTEM_CLOCK, Clock
from mailconsole.errors import UnknownBackendError

ENTRY_POINT_GROUP = "mailconsole.backends"


class Outcome(StrEnum):
    """What one attempt came to, and so what the engine does next."""

    SENT = "sent"  # accepted by the provider
    TRANSIENT = "transient"  # retry with backoff (429, 5xx, timeouts, smtp 4xx)
    PERMANENT = "permanent"  # dead at once (invalid/inactive recipient, smtp 5xx)
    ACCOUNT = "account"  # the whole account is unusable: open the circuit, keep messages queued


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message as a backend sees it: addresses, content, and the engine's id for it."""

    id: int
    from_addr: str
    to: tuple[str, ...]
    subject: str
    text: str | None = None
    html: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tag: str | None = None
    stream: str | None = None
    template_id: int | None = None
    template_data: Mapping[str, Any] | None = None
    attempt: int = 1

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider's answer for one message."""

    message_id: int
    outcome: Outcome
    provider_message_id: str | None = None
    error_code: str | None = None  # normalized: http_503, smtp_550, timeout, connect_error…
    provider_code: str | None = None  # the provider's own: postmark:406, ses:MessageRejected
    error_message: str | None = None
    suppress_recipients: bool = False  # the provider says the recipient is inactive
    retry_after: float | None = None  # seconds, when the provider says so

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SENT


@dataclass(frozen=True, slots=True)
class BackendLimits:
    """How hard the engine may drive one account."""

    batch_size: int = 50
    max_connections: int = 4
    rate_per_second: float | None = None  # messages per second; None = unlimited


@dataclass(frozen=True, slots=True)
class HealthStatus:
    ok: bool
    detail: str
    error_code: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Quota:
    """Sending quota where the provider reports one (e.g. SES GetAccount)."""

    sent_last_24h: float
    max_24h: float | None  # None = unlimited
    max_rate: float | None = None

    @property
    def used_fraction(self) -> float | None:
        if not self.max_24h or self.max_24h <= 0:
            return None
        return self.sent_last_24h / self.max_24h


@dataclass(frozen=True)
class BackendContext:
    """Everything a backend gets to build itself: it never looks anything up on its own."""

    name: str  # the account name, e.g. "postmark-main"
    options: Mapping[str, Any]  # the account's table from the config file, minus `type`
    secret: str | None = None  # token or password, from the keyring or the environment
    http: httpx.AsyncClient | None = None  # injected; tests pass a MockTransport
    clock: Clock = SYSTEM_CLOCK
    default_from: str | None = None


@runtime_checkable
class Backend(Protocol):
    """What every provider backend implements. Capability flags are class attributes."""

    kind: ClassVar[str]  # the entry-point name: "postmark", "smtp"…
    needs_secret: ClassVar[bool]
    supports_quota: ClassVar[bool]
    name: str
    limits: BackendLimits

    @classmethod
    def create(cls, context: BackendContext) -> Backend:
        """Build the backend for one account; raise ConfigError naming the bad option."""
        ...

    async def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send up to `limits.batch_size` messages; return one result per message, in order."""
        ...

    async def health(self) -> HealthStatus:
        """A cheap check that the account is reachable and the credentials work."""
        ...

    async def quota(self) -> Quota | None:
        """The provider's sending quota, or None where it has none."""
        ...

    async def aclose(self) -> None:
        """Release connections the backend opened itself (not an injected client)."""
        ...


# --- classification helpers shared by backends -------------------------------------------------


def classify_http_status(status: int) -> Outcome:
    """HTTP status → outcome, for answers that carry no more precise provider code."""
    if status in (401, 403):
        return Outcome.ACCOUNT
    if status in (408, 425, 429) or status >= 500:
        return Outcome.TRANSIENT
    if 400 <= status < 500:
        return Outcome.PERMANENT
    return Outcome.SENT


def classify_smtp_reply(code: int) -> Outcome:
    """SMTP reply code → outcome: 4xx retry, 5xx for a recipient is permanent, auth is account."""
    if code in (530, 534, 535, 538):
        return Outcome.ACCOUNT
    if 400 <= code < 500:
        return Outcome.TRANSIENT
    if code >= 500:
        return Outcome.PERMANENT
    return Outcome.SENT


def failed_batch(
    batch: Sequence[OutgoingMessage],
    outcome: Outcome,
    error_code: str,
    message: str,
    provider_code: str | None = None,
    retry_after: float | None = None,
) -> list[SendResult]:
    """The same failure for every message of a batch (a request-level failure)."""
    return [
        SendResult(
            message_id=m.id,
            outcome=outcome,
            error_code=error_code,
            provider_code=provider_code,
            error_message=message,
            retry_after=retry_after,
        )
        for m in batch
    ]


def http_exception_result(exc: Exception) -> tuple[str, str]:
    """An httpx transport exception → (error_code, message)."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out: {type(exc).__name__}"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "SSL" in text or "certificate" in text.lower():
            return "tls_error", text or "TLS handshake failed"
        return "connect_error", text or "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "connect_error", str(exc) or type(exc).__name__
    return "backend_error", f"{type(exc).__name__}: {exc}"


# --- registry ------------------------------------------------------------------------------------


@functools.cache
def _entry_points() -> tuple[importlib.metadata.EntryPoint, ...]:
    """The installed backends' entry points, read once per process.

    Scanning the installed distributions costs 3-14 ms, and the Dashboard asks for backend
    classes on every refresh; installing a backend needs a restart anyway.
    """
    return tuple(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


@functools.cache
def _load(kind: str) -> type[Backend] | None:
    for ep in _entry_points():
        if ep.name == kind:
            return ep.load()
    return None


def available_backends() -> list[str]:
    """Names of installed backends, without importing them."""
    return sorted({ep.name for ep in _entry_points()})


def load_backend_class(kind: str) -> type[Backend]:
    """The class registered as `kind`; UnknownBackendError names what is installed."""
    cls = _load(kind)
    if cls is not None:
        return cls
    installed = ", ".join(available_backends()) or "none"
    raise UnknownBackendError(
        f"unknown backend type {kind!r}: installed backends are {installed} "
        "(a third-party backend registers under the entry-point group 'mailconsole.backends')"
    )
