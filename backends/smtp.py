"""SMTP submission (a relay, or a provider's SMTP endpoint) with aiosmtplib.

A batch is sent message by message, concurrently over a small pool of reused connections (at most
`max_connections`): opening a TLS connection and logging in costs far more than a message, and
relays limit connections per client. A connection that fails is dropped and the next message opens
a new one; a connection idle for a while is checked with NOOP before reuse, since relays close idle
connections.

Classification (DESIGN.md, Error codes):
- a reply code → `smtp_<code>` with `classify_smtp_reply` (4xx TRANSIENT, 5xx PERMANENT), and the
  enhanced status as provider code (`smtp:5.1.1`) when the reply carries one;
- authentication failures (535, 530…) → ACCOUNT `auth_error`;
- refused/dropped connections → TRANSIENT `connect_error`; timeouts → TRANSIENT `timeout`;
- TLS: a certificate that fails verification, or a server that does not offer STARTTLS/AUTH we were
  told to use, is ACCOUNT `tls_error`/`auth_error` (retrying single messages cannot fix it, and the
  queue must not burn into dead letters); any other TLS failure is TRANSIENT `tls_error`.
If some recipients of a message are refused and others accepted, the message is SENT and the
refused ones are named in `error_message`. Once a connection fails to open (or login fails) within
a batch, the batch's remaining messages fail the same way at once instead of each waiting for its
own connect timeout.

`provider_message_id` is the `Message-ID` header generated for the message.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from functools import lru_cache
from typing import Any, ClassVar

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPTimeoutError,
)
from pydantic import Field, model_validator

from backends._options import BackendOptions, parse_options
from backends.mime import Wire, serialize
from mailconsole.backend_api import (
    BackendContext,
    BackendLimits,
    HealthStatus,
    Outcome,
    OutgoingMessage,
    Quota,
    SendResult,
    classify_smtp_reply,
)
from mailconsole.clock import Clock
from mailconsole.errors import ConfigError
from mailconsole.secrets import env_var_for

AUTH_CODES = frozenset({530, 534, 535, 538})
IDLE_CHECK_SECONDS = 10.0  # a pooled connection idle longer than this gets a NOOP before reuse
MAX_ERROR_TEXT = 500
ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
# Headers the backend writes itself; a message's own headers cannot replace them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "x-mailconsole-id",
    }
)


class SmtpOptions(BackendOptions):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool | None = None  # default: true on port 587
    tls: bool | None = None  # implicit TLS; default: true on port 465
    username: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    validate_certs: bool = True
    local_hostname: str | None = None

    @model_validator(mode="after")
    def _tls_modes(self) -> SmtpOptions:
        if self.use_starttls and self.use_tls:
            raise ValueError(
                "starttls and tls are exclusive: tls = true is implicit TLS (port 465), "
                "starttls = true upgrades a plain connection (port 587)"
            )
        return self

    @property
    def use_tls(self) -> bool:
        return self.tls if self.tls is not None else self.port == 465

    @property
    def use_starttls(self) -> bool:
        return self.starttls if self.starttls is not None else self.port == 587


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


@lru_cache(maxsize=256)
def _addr_spec(address: str) -> str:
    """The bare address of `Name <addr>` (cached: a batch repeats a few senders)."""
    return email.utils.parseaddr(address)[1]


def _domain_of(address: str) -> str | None:
    addr = _addr_spec(address)
    if "@" in addr:
        return addr.rsplit("@", 1)[1].strip().lower() or None
    return None


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _mail_options(wire: Wire, message: OutgoingMessage) -> list[str]:
    """SMTPUTF8 when an address (in the headers or the envelope) is not ASCII."""
    if wire.utf8 or not all(a.isascii() for a in (message.from_addr, *message.recipients)):
        return ["SMTPUTF8"]
    return []


@dataclass(frozen=True)
class _Failure:
    """A classified failure, and whether the connection it happened on can be reused."""

    outcome: Outcome
    error_code: str
    message: str
    provider_code: str | None = None
    reusable: bool = False

    def result(self, message_id: int) -> SendResult:
        return SendResult(
            message_id=message_id,
            outcome=self.outcome,
            error_code=self.error_code,
            provider_code=self.provider_code,
            error_message=_clip(self.message),
        )


def _reply_failure(code: int, text: str, what: str) -> _Failure:
    enhanced = ENHANCED.match(text or "")
    provider = f"smtp:{enhanced.group(1)}" if enhanced else f"smtp:{code}"
    if code in AUTH_CODES:
        return _Failure(
            Outcome.ACCOUNT, "auth_error", f"smtp: {what}: {code} {text}", provider, reusable=False
        )
    if code < 200:  # aiosmtplib's "invalid response" (-1): the stream is not usable
        return _Failure(Outcome.TRANSIENT, "bad_response", f"smtp: {what}: {text}", None)
    outcome = classify_smtp_reply(code)
    if outcome is Outcome.SENT:
        outcome = Outcome.TRANSIENT  # an unexpected 2xx/3xx where an error was raised
    return _Failure(
        outcome,
        f"smtp_{code}",
        f"smtp: {what}: {code} {text}",
        provider,
        reusable=code != 421,  # 421: the server closes the channel
    )


def classify_exception(exc: BaseException, *, connecting: bool) -> _Failure:
    """An exception from aiosmtplib (or the socket under it) → a classified failure."""
    if isinstance(exc, SMTPRecipientsRefused):
        refused = exc.recipients
        # A 4xx for anyone makes the whole message worth retrying; else the first refusal decides.
        chosen = next((r for r in refused if 400 <= r.code < 500), refused[0] if refused else None)
        listing = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused)
        if chosen is None:
            return _Failure(Outcome.TRANSIENT, "bad_response", "smtp: recipients refused")
        failure = _reply_failure(chosen.code, chosen.message, "recipients refused")
        return _Failure(
            failure.outcome,
            failure.error_code,
            f"smtp: recipients refused: {listing}",
            failure.provider_code,
            reusable=failure.reusable,
        )
    if isinstance(exc, SMTPAuthenticationError):
        return _Failure(
            Outcome.ACCOUNT,
            "auth_error",
            f"smtp: login refused: {exc.code} {exc.message}",
            f"smtp:{exc.code}",
        )
    if isinstance(exc, SMTPResponseException):
        what = "connecting" if connecting else "sending"
        failure = _reply_failure(exc.code, exc.message, what)
        if connecting:
            return _Failure(
                failure.outcome, failure.error_code, failure.message, failure.provider_code
            )
        return failure
    if isinstance(exc, SMTPTimeoutError | TimeoutError | asyncio.TimeoutError):
        return _Failure(Outcome.TRANSIENT, "timeout", f"smtp: timed out: {exc}")
    if (tls := _ssl_error(exc)) is not None:
        if isinstance(tls, ssl.SSLCertVerificationError):
            return _Failure(
                Outcome.ACCOUNT,
                "tls_error",
                f"smtp: the server's certificate failed verification ({tls.verify_message or tls}); "
                "fix the certificate, or set validate_certs = false for a trusted internal relay",
            )
        return _Failure(Outcome.TRANSIENT, "tls_error", f"smtp: TLS failed: {tls}")
    if isinstance(exc, SMTPNotSupported) or (
        connecting and type(exc) is SMTPException and "not supported" in str(exc)
    ):
        text = str(exc)
        code = "tls_error" if "STARTTLS" in text.upper() else "auth_error"
        if connecting:
            return _Failure(Outcome.ACCOUNT, code, f"smtp: {text}")
        return _Failure(Outcome.PERMANENT, "unsupported", f"smtp: {text}", reusable=True)
    if isinstance(exc, ConnectionError | OSError):  # SMTPServerDisconnected, SMTPConnectError too
        return _Failure(Outcome.TRANSIENT, "connect_error", f"smtp: {exc or type(exc).__name__}")
    if isinstance(exc, ValueError):  # an address aiosmtplib cannot put in an envelope
        return _Failure(Outcome.PERMANENT, "invalid_address", f"smtp: {exc}", reusable=True)
    return _Failure(Outcome.TRANSIENT, "backend_error", f"smtp: {type(exc).__name__}: {exc}")


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, noting whether MAIL FROM was accepted for the current message.

    A connection lost before that point transmitted nothing, so the message can safely go again
    over a fresh connection (a relay that closed an idle or a much-used connection).
    """

    mail_accepted: bool = False

    async def mail(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await super().mail(*args, **kwargs)
        self.mail_accepted = True
        return response


class _BatchState:
    """One send() call: its pending messages, results, and what its connection attempts learned.

    Until one connection of the batch has opened, connects are made one at a time, and after a
    failed connect the workers stop opening connections: a wrong password costs one login, and a
    dead host one connect timeout, not one per message.
    """

    def __init__(self, batch: Sequence[OutgoingMessage], workers: int) -> None:
        self.batch = batch
        self.results: list[SendResult | None] = [None] * len(batch)
        self.pending: deque[int] = deque()
        self.retried: set[int] = set()
        self.wire: dict[int, Wire] = {}
        self.running = workers
        self.connected = False
        self.first_connect = asyncio.Lock()
        self.connect_failure: _Failure | None = None


class SmtpBackend:
    """One SMTP account: a host, its TLS mode, and optional credentials (password = the secret)."""

    kind: ClassVar[str] = "smtp"
    needs_secret: ClassVar[bool] = False  # only with a username; checked in create()
    supports_quota: ClassVar[bool] = False

    def __init__(self, name: str, options: SmtpOptions, password: str | None, clock: Clock) -> None:
        self.name = name
        self.options = options
        self.limits = BackendLimits(
            batch_size=options.batch_size or 50,
            max_connections=options.max_connections or 4,
            rate_per_second=options.rate_per_second,
        )
        self._password = password
        self._clock = clock
        self._local_hostname = options.local_hostname
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[tuple[_Client, float]] = []
        self._closed = False
        self.connections_opened = 0

    @classmethod
    def create(cls, context: BackendContext) -> SmtpBackend:
        options = parse_options(SmtpOptions, context.name, cls.kind, context.options)
        if options.username and not context.secret:
            raise ConfigError(
                f"accounts.{context.name}.username is set but there is no SMTP password: run "
                f"`mailconsole secrets set {context.name}` or export {env_var_for(context.name)}"
            )
        return cls(
            context.name, options, context.secret if options.username else None, context.clock
        )

    # --- connections ---------------------------------------------------------------------------

    def _bind_loop(self) -> asyncio.Semaphore:
        """Pool state belongs to one event loop; a new loop (a new CLI run) starts a new pool."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._slots is None:
            self._loop = loop
            self._slots = asyncio.Semaphore(self.limits.max_connections)
            self._idle = []
        return self._slots

    async def _hostname(self) -> str:
        if self._local_hostname is None:
            self._local_hostname = await asyncio.get_running_loop().run_in_executor(
                None, socket.getfqdn
            )
        return self._local_hostname

    async def _connect(self) -> _Client:
        opts = self.options
        client = _Client(
            hostname=opts.host,
            port=opts.port,
            use_tls=opts.use_tls,
            start_tls=opts.use_starttls,
            validate_certs=opts.validate_certs,
            timeout=opts.timeout_seconds,
            local_hostname=await self._hostname(),
            username=opts.username,
            password=self._password,
        )
        await client.connect()
        self.connections_opened += 1
        return client

    async def _checkout(self, state: _BatchState) -> _Client | _Failure:
        """A connected client from the pool (or a new one), or why none could be had."""
        while self._idle:
            client, since = self._idle.pop()
            if not client.is_connected:
                continue
            if self._clock.monotonic() - since > IDLE_CHECK_SECONDS:
                try:
                    await client.noop()
                except Exception:
                    client.close()
                    continue
            return client
        if state.connect_failure is not None:
            return state.connect_failure
        if not state.connected:
            async with state.first_connect:
                if state.connect_failure is not None:
                    return state.connect_failure
                if not state.connected:
                    return await self._open(state)
        return await self._open(state)

    async def _open(self, state: _BatchState) -> _Client | _Failure:
        try:
            client = await self._connect()
        except Exception as exc:
            failure = classify_exception(exc, connecting=True)
            state.connect_failure = failure
            return failure
        state.connected = True
        return client

    def _checkin(self, client: _Client, reusable: bool) -> None:
        if reusable and not self._closed and client.is_connected:
            self._idle.append((client, self._clock.monotonic()))
        else:
            client.close()

    # --- sending -------------------------------------------------------------------------------

    async def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not batch:
            return []
        slots = self._bind_loop()
        state = _BatchState(batch, workers=0)
        for index, message in enumerate(batch):
            try:
                state.wire[index] = self.wire_message(message)
                state.pending.append(index)
            except (ValueError, TypeError) as exc:
                state.results[index] = SendResult(
                    message_id=message.id,
                    outcome=Outcome.PERMANENT,
                    error_code="invalid_message",
                    error_message=_clip(f"smtp: cannot build the message: {exc}"),
                )
        state.running = min(self.limits.max_connections, len(state.pending))
        await asyncio.gather(*(self._worker(state, slots) for _ in range(state.running)))
        fallback = _Failure(Outcome.TRANSIENT, "backend_error", "smtp: message was not attempted")
        return [r or fallback.result(m.id) for r, m in zip(state.results, batch, strict=True)]

    async def _worker(self, state: _BatchState, slots: asyncio.Semaphore) -> None:
        """Send pending messages over one connection (reopened when it fails) until none is left."""
        client: _Client | None = None
        try:
            async with slots:
                while state.pending:
                    if client is None:
                        got = await self._checkout(state)
                        if isinstance(got, _Failure):
                            return  # the other workers drain the queue; the last one fails it
                        client = got
                    if not state.pending:
                        break
                    index = state.pending.popleft()
                    message = state.batch[index]
                    client.mail_accepted = False
                    wire = state.wire[index]
                    try:
                        refused, _reply = await client.sendmail(
                            self._envelope_sender(message),
                            list(message.recipients),
                            wire.data,
                            mail_options=_mail_options(wire, message),
                        )
                    except Exception as exc:
                        failure = classify_exception(exc, connecting=False)
                        transmitted = client.mail_accepted
                        if not failure.reusable:
                            self._checkin(client, False)
                            client = None
                        if (
                            failure.error_code == "connect_error"
                            and not transmitted
                            and index not in state.retried
                        ):
                            state.retried.add(index)
                            state.pending.appendleft(index)
                            continue
                        state.results[index] = failure.result(message.id)
                        continue
                    state.results[index] = self._sent(message, wire, refused)
        finally:
            if client is not None:
                self._checkin(client, True)
            state.running -= 1
            if state.running == 0:
                failure = state.connect_failure or _Failure(
                    Outcome.TRANSIENT, "connect_error", "smtp: no connection could be used"
                )
                while state.pending:
                    index = state.pending.popleft()
                    state.results[index] = failure.result(state.batch[index].id)

    @staticmethod
    def _sent(
        message: OutgoingMessage, wire: Wire, refused: dict[str, aiosmtplib.SMTPResponse]
    ) -> SendResult:
        note = None
        if refused:
            note = _clip(
                "smtp: accepted, but refused for "
                + "; ".join(f"{addr}: {r.code} {r.message}" for addr, r in refused.items())
            )
        return SendResult(
            message_id=message.id,
            outcome=Outcome.SENT,
            provider_message_id=wire.message_id,
            error_message=note,
        )

    @staticmethod
    def _envelope_sender(message: OutgoingMessage) -> str:
        return _addr_spec(message.from_addr) or message.from_addr

    def wire_message(self, message: OutgoingMessage) -> Wire:
        """The message as DATA bytes: text and HTML as multipart/alternative; Bcc only in the
        envelope; the message's own headers may not replace the ones written here."""
        domain = (
            _domain_of(message.from_addr) or self.options.local_hostname or "mailconsole.invalid"
        )
        return serialize(
            message_no=message.id,
            from_addr=message.from_addr,
            to=message.to,
            cc=message.cc,
            reply_to=message.reply_to,
            subject=message.subject,
            text=message.text,
            html=message.html,
            headers=[
                (k, v) for k, v in message.headers.items() if k.lower() not in RESERVED_HEADERS
            ],
            tag=message.tag,
            now=self._clock.now(),
            msgid_domain=domain,
        )

    def build_message(self, message: OutgoingMessage) -> EmailMessage:
        """The message as an EmailMessage (what the relay receives, parsed back)."""
        parsed = email.message_from_bytes(
            self.wire_message(message).data, policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        return parsed

    # --- checks --------------------------------------------------------------------------------

    async def health(self) -> HealthStatus:
        started = time.perf_counter()
        try:
            client = await self._connect()
        except Exception as exc:
            failure = classify_exception(exc, connecting=True)
            return HealthStatus(
                ok=False, detail=_clip(failure.message), error_code=failure.error_code
            )
        try:
            await client.quit()
        except Exception:
            client.close()
        latency = (time.perf_counter() - started) * 1000
        login = f" as {self.options.username}" if self.options.username else ""
        return HealthStatus(
            ok=True,
            detail=f"smtp: {self.options.host}:{self.options.port} accepted EHLO{login}",
            latency_ms=latency,
        )

    async def quota(self) -> Quota | None:
        return None

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for client, _ in idle:
            if not client.is_connected:
                continue
            try:
                await asyncio.wait_for(client.quit(), timeout=2)
            except Exception:
                client.close()
