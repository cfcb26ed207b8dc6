"""Transactional messages through Listmonk's `POST /api/tx`.

Listmonk renders a tx template with the message's `template_data` (`{{ .Tx.Data.* }}`) and sends
one copy to each recipient, who must be a Listmonk subscriber (unless the account sets
`subscriber_mode = "external"`, Listmonk v5+). One request per message, up to
`limits.max_connections` at once; one result per message.

Outcomes (DESIGN.md, Error codes):
- 200 → SENT. Listmonk returns no message id, so the result carries a generated
  `listmonk-tx-<uuid>` to identify the attempt;
- 401/403 → ACCOUNT `http_403` (bad api_user or token): the engine stops the account;
- 400/404/422 → PERMANENT `http_<status>` with Listmonk's message ("Subscriber not found",
  "template 9 not found"). With several recipients Listmonk sends to the known ones before it
  refuses the request, so the message is not retried (a retry would duplicate those);
- 429, 5xx, timeouts, connection failures → TRANSIENT (`http_<status>`, `timeout`, `connect_error`).

A message without `template_id` uses the account's `template_id`; with neither it is PERMANENT
`no_template` without a request. When the account template is used, the message's subject, text
and html are passed in `data` (`subject`, `text`, `html`, unless `template_data` sets them), so a
generic wrapper template can render them. The template owns the subject line.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, field_validator

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
    http_exception_result,
)
from mailconsole.clock import Clock
from mailconsole.errors import ConfigError
from mailconsole.listmonk.client import ListmonkClient, normalize_base_url
from mailconsole.listmonk.errors import (
    ListmonkAuthError,
    ListmonkError,
    ListmonkUnavailableError,
)
from mailconsole.secrets import env_var_for

DEFAULT_BATCH = 50
MAX_ERROR_TEXT = 500


class ListmonkOptions(BackendOptions):
    base_url: str
    api_user: str = Field(min_length=1)
    template_id: int | None = Field(default=None, ge=1)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    content_type: Literal["html", "markdown", "plain"] | None = None
    messenger: str | None = None
    subscriber_mode: Literal["default", "fallback", "external"] | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.strip().lower().startswith(("https://", "http://")):
            raise ValueError(
                f"{value!r} must start with https:// (the Listmonk root, e.g. "
                "https://lists.example.com)"
            )
        return normalize_base_url(value)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


class ListmonkBackend:
    """One Listmonk instance's transactional API (the API token is the account's secret)."""

    kind: ClassVar[str] = "listmonk"
    needs_secret: ClassVar[bool] = True
    supports_quota: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        options: ListmonkOptions,
        token: str,
        http: httpx.AsyncClient | None,
        clock: Clock,
    ) -> None:
        self.name = name
        self.options = options
        self.limits = BackendLimits(
            batch_size=options.batch_size or DEFAULT_BATCH,
            max_connections=options.max_connections or 4,
            rate_per_second=options.rate_per_second,
        )
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self.client = ListmonkClient(
            options.base_url,
            options.api_user,
            token,
            self._http,
            clock,
            account=name,
            timeout_seconds=options.timeout_seconds,
        )

    @classmethod
    def create(cls, context: BackendContext) -> ListmonkBackend:
        options = parse_options(ListmonkOptions, context.name, cls.kind, context.options)
        if not context.secret:
            raise ConfigError(
                f"accounts.{context.name}: no Listmonk API token: run "
                f"`mailconsole secrets set {context.name}` or export {env_var_for(context.name)}"
            )
        return cls(context.name, options, context.secret, context.http, context.clock)

    # --- sending -------------------------------------------------------------------------------

    async def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        gate = asyncio.Semaphore(self.limits.max_connections)

        async def one(message: OutgoingMessage) -> SendResult:
            async with gate:
                return await self._send_one(message)

        return list(await asyncio.gather(*(one(m) for m in batch)))

    def _request_for(self, message: OutgoingMessage) -> tuple[int | None, dict[str, Any]]:
        template_id = message.template_id or self.options.template_id
        data: dict[str, Any] = dict(message.template_data or {})
        if message.template_id is None:
            data.setdefault("subject", message.subject)
            if message.text is not None:
                data.setdefault("text", message.text)
            if message.html is not None:
                data.setdefault("html", message.html)
        headers = dict(message.headers)
        if message.reply_to and not any(k.lower() == "reply-to" for k in headers):
            headers["Reply-To"] = message.reply_to
        return template_id, {"data": data, "headers": headers}

    async def _send_one(self, message: OutgoingMessage) -> SendResult:
        template_id, parts = self._request_for(message)
        if template_id is None:
            return SendResult(
                message_id=message.id,
                outcome=Outcome.PERMANENT,
                error_code="no_template",
                error_message=(
                    "listmonk: the message has no template_id and the account sets none "
                    f"(set accounts.{self.name}.template_id to a tx template)"
                ),
            )
        recipients = list(dict.fromkeys(a.strip().lower() for a in message.recipients))
        try:
            await self.client.send_tx(
                template_id,
                recipients,
                data=parts["data"],
                headers=parts["headers"] or None,
                content_type=self.options.content_type,
                from_email=message.from_addr or None,
                messenger=self.options.messenger,
                subscriber_mode=self.options.subscriber_mode,
            )
        except ListmonkError as exc:
            return self._failure(message, exc, len(recipients))
        except httpx.HTTPError as exc:  # anything the client did not translate
            code, text = http_exception_result(exc)
            return SendResult(
                message_id=message.id,
                outcome=Outcome.TRANSIENT,
                error_code=code,
                error_message=_clip(f"listmonk: {text}"),
            )
        return SendResult(
            message_id=message.id,
            outcome=Outcome.SENT,
            provider_message_id=f"listmonk-tx-{uuid.uuid4()}",
        )

    def _failure(
        self, message: OutgoingMessage, exc: ListmonkError, n_recipients: int
    ) -> SendResult:
        if isinstance(exc, ListmonkAuthError):
            outcome = Outcome.ACCOUNT
        elif isinstance(exc, ListmonkUnavailableError):
            outcome = Outcome.TRANSIENT
        elif exc.status is not None:
            outcome = classify_http_status(exc.status)
            if outcome is Outcome.SENT:
                outcome = Outcome.PERMANENT
        else:
            outcome = Outcome.PERMANENT
        text = exc.listmonk_message or str(exc)
        if outcome is Outcome.PERMANENT and n_recipients > 1:
            text += " (Listmonk sends to the recipients it knows before refusing: some may have it)"
        if outcome is Outcome.ACCOUNT:
            text = str(exc)
        return SendResult(
            message_id=message.id,
            outcome=outcome,
            error_code=exc.error_code,
            error_message=_clip(f"listmonk: {text}"),
            retry_after=exc.retry_after,
        )

    # --- checks --------------------------------------------------------------------------------

    async def health(self) -> HealthStatus:
        started = time.perf_counter()
        try:
            ok = await self.client.health()
        except ListmonkAuthError as exc:
            return HealthStatus(
                ok=False,
                detail=str(exc),
                error_code="auth_error",
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        except ListmonkError as exc:
            return HealthStatus(
                ok=False,
                detail=_clip(f"listmonk: {exc}"),
                error_code=exc.error_code,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        latency = (time.perf_counter() - started) * 1000
        if not ok:
            return HealthStatus(
                ok=False,
                detail="listmonk: /api/health did not answer true (its database may be down)",
                error_code="unhealthy",
                latency_ms=latency,
            )
        return HealthStatus(ok=True, detail="listmonk: API reachable", latency_ms=latency)

    async def quota(self) -> Quota | None:
        return None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
