"""Postmark over its batch API (`POST /email/batch`, up to 500 messages per request).

Postmark answers a batch with HTTP 200 and one result per message even when some fail, so every
`ErrorCode` is checked and mapped on its own (see reference/providers.md):

- 0 → SENT, with Postmark's `MessageID`;
- 10, 400, 401, 405, 412, 413 → ACCOUNT (bad token, sender not confirmed, out of credits…): the
  engine stops the account instead of dead-lettering the queue;
- 100, 429 → TRANSIENT; 406 → PERMANENT with `suppress_recipients`; 300, 402, 403, 409, 410, 411
  and any code we do not know → PERMANENT.

Normalized codes (DESIGN.md, Error codes), decided here:
- a per-message failure inside a 200 batch answer: `error_code="provider_reject"`,
  `provider_code="postmark:<ErrorCode>"`;
- an HTTP-level failure: `error_code="http_<status>"` for the whole batch, and
  `provider_code="postmark:<ErrorCode>"` when the body carries one. 401 is ACCOUNT; 422 is
  classified by its ErrorCode; 429 and 5xx are TRANSIENT (429 with `retry_after` from
  `Retry-After`); other statuses by `classify_http_status` unless an ErrorCode says more;
- a 200 whose body is not the expected JSON list: TRANSIENT `bad_response` (Postmark may have
  taken the messages, so a retry may duplicate one: at-least-once, as documented);
- transport failures (timeouts, refused connections, TLS): TRANSIENT via `http_exception_result`.

Messages with a `template_id` are refused as PERMANENT `unsupported`: this backend sends rendered
bodies only, and sending a template message without its body would deliver an empty mail.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

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
    failed_batch,
    http_exception_result,
)
from mailconsole.clock import Clock
from mailconsole.errors import ConfigError
from mailconsole.secrets import env_var_for

DEFAULT_BASE_URL = "https://api.postmarkapp.com"
MAX_BATCH = 500
MAX_ERROR_TEXT = 500

ACCOUNT_CODES = frozenset({10, 400, 401, 405, 412, 413})
TRANSIENT_CODES = frozenset({100, 429})
SUPPRESS_CODES = frozenset({406})


def classify_postmark_code(code: int) -> Outcome:
    """A Postmark ErrorCode → outcome; unknown codes are permanent (never retried blindly)."""
    if code == 0:
        return Outcome.SENT
    if code in ACCOUNT_CODES:
        return Outcome.ACCOUNT
    if code in TRANSIENT_CODES:
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds (either form the RFC allows); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class PostmarkOptions(BackendOptions):
    base_url: str = DEFAULT_BASE_URL
    message_stream: str = Field(default="outbound", min_length=1)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} must start with https:// (e.g. {DEFAULT_BASE_URL})")
        return value.rstrip("/")


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


class PostmarkBackend:
    """One Postmark server (its server token is the account's secret)."""

    kind: ClassVar[str] = "postmark"
    needs_secret: ClassVar[bool] = True
    supports_quota: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        options: PostmarkOptions,
        token: str,
        http: httpx.AsyncClient | None,
        clock: Clock,
    ) -> None:
        self.name = name
        self.options = options
        self.limits = BackendLimits(
            batch_size=min(options.batch_size or MAX_BATCH, MAX_BATCH),
            max_connections=options.max_connections or 4,
            rate_per_second=options.rate_per_second,
        )
        self._token = token
        self._clock = clock
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._timeout = httpx.Timeout(options.timeout_seconds)

    @classmethod
    def create(cls, context: BackendContext) -> PostmarkBackend:
        options = parse_options(PostmarkOptions, context.name, cls.kind, context.options)
        if not context.secret:
            raise ConfigError(
                f"accounts.{context.name}: no Postmark server token: run "
                f"`mailconsole secrets set {context.name}` or export {env_var_for(context.name)}"
            )
        return cls(context.name, options, context.secret, context.http, context.clock)

    @property
    def _headers(self) -> dict[str, str]:
        return {
            "X-Postmark-Server-Token": self._token,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    # --- sending -------------------------------------------------------------------------------

    async def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        results: dict[int, SendResult] = {}
        sendable: list[OutgoingMessage] = []
        for index, message in enumerate(batch):
            if message.template_id is not None:
                results[index] = SendResult(
                    message_id=message.id,
                    outcome=Outcome.PERMANENT,
                    error_code="unsupported",
                    error_message="postmark backend sends rendered bodies only, not template_id "
                    "(route template messages to a listmonk account)",
                )
            else:
                sendable.append(message)
        sent: list[SendResult] = []
        for start in range(0, len(sendable), MAX_BATCH):
            sent += await self._send_chunk(sendable[start : start + MAX_BATCH])
        it = iter(sent)
        return [results[i] if i in results else next(it) for i in range(len(batch))]

    def _payload(self, message: OutgoingMessage) -> dict[str, Any]:
        # Runs for every message of every batch in the dispatch's event loop: plain ifs.
        body: dict[str, Any] = {
            "From": message.from_addr,
            "To": ", ".join(message.to),
            "Subject": message.subject,
            "MessageStream": message.stream or self.options.message_stream,
            "Metadata": {"mailconsole_id": str(message.id)},
        }
        if message.cc:
            body["Cc"] = ", ".join(message.cc)
        if message.bcc:
            body["Bcc"] = ", ".join(message.bcc)
        if message.reply_to:
            body["ReplyTo"] = message.reply_to
        if message.text:
            body["TextBody"] = message.text
        if message.html:
            body["HtmlBody"] = message.html
        if message.tag:
            body["Tag"] = message.tag
        if message.headers:
            body["Headers"] = [{"Name": k, "Value": v} for k, v in message.headers.items()]
        return body

    async def _send_chunk(self, chunk: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not chunk:
            return []
        try:
            response = await self._http.post(
                f"{self.options.base_url}/email/batch",
                json=[self._payload(m) for m in chunk],
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            code, text = http_exception_result(exc)
            return failed_batch(chunk, Outcome.TRANSIENT, code, f"postmark: {text}")
        if 200 <= response.status_code < 300:
            return self._per_message(chunk, response)
        return self._http_failure(chunk, response)

    def _per_message(
        self, chunk: Sequence[OutgoingMessage], response: httpx.Response
    ) -> list[SendResult]:
        try:
            answers = response.json()
        except ValueError:
            answers = None
        if (
            not isinstance(answers, list)
            or len(answers) != len(chunk)
            or not all(isinstance(a, dict) for a in answers)
        ):
            return failed_batch(
                chunk,
                Outcome.TRANSIENT,
                "bad_response",
                f"postmark: HTTP {response.status_code} with an unexpected body "
                f"({_clip(response.text[:200]) or 'empty'})",
            )
        results = []
        append = results.append
        sent = Outcome.SENT
        for message, answer in zip(chunk, answers, strict=True):
            code = answer.get("ErrorCode")
            if code == 0 and type(code) is int and answer.get("MessageID"):  # the usual answer
                append(SendResult(message.id, sent, str(answer["MessageID"])))
                continue
            try:
                code = int(answer["ErrorCode"])
            except (KeyError, TypeError, ValueError):
                code = None
            if code is None and not answer.get("MessageID"):
                append(
                    SendResult(
                        message_id=message.id,
                        outcome=Outcome.TRANSIENT,
                        error_code="bad_response",
                        error_message=_clip(
                            f"postmark: a batch result without ErrorCode: {answer}"
                        ),
                    )
                )
                continue
            if not code:  # 0, or a MessageID without an ErrorCode
                append(
                    SendResult(
                        message_id=message.id,
                        outcome=sent,
                        provider_message_id=str(answer.get("MessageID") or "") or None,
                    )
                )
                continue
            append(
                SendResult(
                    message_id=message.id,
                    outcome=classify_postmark_code(code),
                    error_code="provider_reject",
                    provider_code=f"postmark:{code}",
                    error_message=_clip(f"postmark: {answer.get('Message') or 'rejected'}"),
                    suppress_recipients=code in SUPPRESS_CODES,
                )
            )
        return results

    def _http_failure(
        self, chunk: Sequence[OutgoingMessage], response: httpx.Response
    ) -> list[SendResult]:
        status = response.status_code
        code, text = self._error_body(response)
        if status == 401:
            outcome = Outcome.ACCOUNT
        elif status == 429 or status >= 500:
            outcome = Outcome.TRANSIENT
        elif code is not None:
            outcome = classify_postmark_code(code)
            if outcome is Outcome.SENT:  # "ErrorCode 0" on an error status: trust the status
                outcome = classify_http_status(status)
        else:
            outcome = classify_http_status(status)
        retry_after = None
        if status == 429 or status == 503:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
        return [
            SendResult(
                message_id=m.id,
                outcome=outcome,
                error_code=f"http_{status}",
                provider_code=f"postmark:{code}" if code is not None else None,
                error_message=_clip(f"postmark: HTTP {status}: {text}"),
                suppress_recipients=code in SUPPRESS_CODES and outcome is Outcome.PERMANENT,
                retry_after=retry_after,
            )
            for m in chunk
        ]

    @staticmethod
    def _error_body(response: httpx.Response) -> tuple[int | None, str]:
        try:
            body = response.json()
        except ValueError:
            return None, response.reason_phrase or response.text[:200] or "error"
        if not isinstance(body, dict):
            return None, response.reason_phrase or "error"
        try:
            code = int(body["ErrorCode"]) if body.get("ErrorCode") is not None else None
        except (TypeError, ValueError):
            code = None
        return code, str(body.get("Message") or response.reason_phrase or "error")

    # --- checks --------------------------------------------------------------------------------

    async def health(self) -> HealthStatus:
        started = time.perf_counter()
        try:
            response = await self._http.get(
                f"{self.options.base_url}/server", headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            code, text = http_exception_result(exc)
            return HealthStatus(ok=False, detail=f"postmark: {text}", error_code=code)
        latency = (time.perf_counter() - started) * 1000
        if response.status_code == 200:
            try:
                name = response.json().get("Name")
            except (ValueError, AttributeError):
                name = None
            detail = f"postmark: server {name!r} reachable" if name else "postmark: reachable"
            return HealthStatus(ok=True, detail=detail, latency_ms=latency)
        code, text = self._error_body(response)
        if response.status_code == 401:
            return HealthStatus(
                ok=False,
                detail=f"postmark: the server token was rejected ({text}): run "
                f"`mailconsole secrets set {self.name}` with a valid token",
                error_code="auth_error",
                latency_ms=latency,
            )
        return HealthStatus(
            ok=False,
            detail=_clip(f"postmark: HTTP {response.status_code}: {text}"),
            error_code=f"http_{response.status_code}",
            latency_ms=latency,
        )

    async def quota(self) -> Quota | None:
        return None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
