"""Notification targets: Slack, a signed JSON webhook, email, and Python hooks.

Each `[notifiers.NAME]` table has a `type` and the keys of that type (checked here, so a typo is
named). Secrets are never in the file: the Slack incoming-webhook URL and the webhook's HMAC key
are the secret of the notifier's name (`mailconsole secrets set NAME` or
`MAILCONSOLE_SECRET_<NAME>`).

Email goes **directly** through the configured account's backend by default (`via = "direct"`),
not through the queue: the alerts that matter most are the ones about the queue itself — a
backlog, a stopped scheduler, a global pause — and a notice queued behind them would wait for the
very dispatch that is broken. `via = "queue"` enqueues it instead (it then appears in the mail
logs, with the normal retries and fallback) for those who prefer that.

Delivery (`deliver_all`) runs every notice concurrently, each try under its own timeout, with a few
tries and exponential backoff inside a bounded total time, and records each result as soon as it
is known: one slow or failing target never holds up another.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mailconsole.alerts import signing
from mailconsole.config import NotifierConfig
from mailconsole.context import AppContext
from mailconsole.errors import ConfigError, SecretError
from mailconsole.secrets import env_var_for

log = logging.getLogger(__name__)

HOOK_GROUP = "mailconsole.alert_hooks"


class NotifyError(Exception):
    """A delivery try failed; `retry` says whether another try may succeed."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class Notifier(Protocol):
    name: str
    kind: ClassVar[str]
    tries: int | None
    timeout_seconds: float | None

    async def send(self, payload: Mapping[str, Any], client: httpx.AsyncClient) -> str | None:
        """Deliver one notice; return a short detail, or raise NotifyError."""
        ...


# --- options per type ------------------------------------------------------------------------------


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    tries: int | None = Field(default=None, ge=1, le=10)
    timeout_seconds: float | None = Field(default=None, gt=0)


class SlackOptions(_Options):
    pass  # the URL is the secret


class WebhookOptions(_Options):
    url: str


class EmailOptions(_Options):
    account: str | None = None  # default: the routed primary
    to: list[str]
    from_addr: str | None = Field(default=None, alias="from")
    subject_prefix: str = "[mailconsole]"
    via: Literal["direct", "queue"] = "direct"


class HookOptions(_Options):
    hook: str  # entry-point name under mailconsole.alert_hooks


def _options(name: str, cfg: NotifierConfig, model: type[_Options]) -> Any:
    data = {"type": cfg.type, **(cfg.model_extra or {})}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:3]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            msg = err.get("msg", "invalid")
            if err.get("type") == "extra_forbidden":
                msg = f"unknown key for a {cfg.type} notifier"
            problems.append(f"notifiers.{name}.{loc}: {msg}")
        raise ConfigError("; ".join(problems)) from None


def _secret(ctx: AppContext, name: str, what: str) -> str:
    try:
        return ctx.secrets.require(name)
    except SecretError:
        raise SecretError(
            f"notifier {name!r} needs its {what}: run `mailconsole secrets set {name}` "
            f"or export {env_var_for(name)}"
        ) from None


def _http_result(response: httpx.Response) -> str:
    if 200 <= response.status_code < 300:
        return f"http {response.status_code}"
    retry = response.status_code in (408, 425, 429) or response.status_code >= 500
    raise NotifyError(f"http_{response.status_code}", retry=retry)


# --- the notifiers ---------------------------------------------------------------------------------


@dataclass
class SlackNotifier:
    """A Slack incoming webhook: a readable message, no links."""

    kind: ClassVar[str] = "slack"
    name: str
    url: str
    tries: int | None = None
    timeout_seconds: float | None = None

    async def send(self, payload: Mapping[str, Any], client: httpx.AsyncClient) -> str | None:
        try:
            response = await client.post(self.url, json={"text": slack_text(payload)})
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            raise NotifyError(
                f"the Slack webhook URL of {self.name!r} is not a valid https URL: set it again "
                f"with `mailconsole secrets set {self.name}`",
                retry=False,
            ) from None
        except httpx.HTTPError as exc:
            # The URL is the secret: it must not reach the history, the logs or the screen.
            text = _describe(exc).replace(self.url, "<slack webhook url>")
            retry = isinstance(exc, httpx.TimeoutException | httpx.NetworkError)
            raise NotifyError(text, retry=retry) from None
        return _http_result(response)


@dataclass
class WebhookNotifier:
    """A generic JSON POST signed with HMAC-SHA256 (see mailconsole.alerts.signing)."""

    kind: ClassVar[str] = "webhook"
    name: str
    url: str
    secret: str
    tries: int | None = None
    timeout_seconds: float | None = None
    now: Callable[[], float] | None = None

    async def send(self, payload: Mapping[str, Any], client: httpx.AsyncClient) -> str | None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        stamp = int(self.now()) if self.now else None
        headers = signing.sign(
            self.secret, body, timestamp=stamp, delivery_id=str(payload.get("id") or "")
        )
        headers["Content-Type"] = "application/json"
        response = await client.post(self.url, content=body, headers=headers)
        return _http_result(response)


@dataclass
class EmailNotifier:
    """A plain-text email through a configured account (directly, or via the queue)."""

    kind: ClassVar[str] = "email"
    name: str
    ctx: AppContext
    options: EmailOptions
    account: str
    tries: int | None = None
    timeout_seconds: float | None = None

    def message_fields(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        subject = f"{self.options.subject_prefix} {payload.get('summary', '')}".strip()
        return {
            "to": list(self.options.to),
            "subject": subject[:900].replace("\n", " "),
            "text": email_text(payload),
            "from": self.options.from_addr,
            "backend": self.account,
            "tag": "mailconsole-alert",
        }

    async def send(self, payload: Mapping[str, Any], client: httpx.AsyncClient) -> str | None:
        from mailconsole.engine.enqueue import build_message, insert_messages

        fields = {k: v for k, v in self.message_fields(payload).items() if v is not None}
        try:
            message = build_message(self.ctx, fields)
        except Exception as exc:
            raise NotifyError(str(exc), retry=False) from None
        if self.options.via == "queue":
            ids = await asyncio.to_thread(insert_messages, self.ctx, [message])
            return f"queued as message {ids[0]}"
        return await self._send_direct(message, client)

    async def _send_direct(self, message: Any, client: httpx.AsyncClient) -> str:
        from mailconsole.backend_api import (
            BackendContext,
            Outcome,
            OutgoingMessage,
            load_backend_class,
        )

        ctx, name = self.ctx, self.account
        backend = ctx.backend_overrides.get(name)
        owned = backend is None
        if backend is None:
            account = ctx.config.accounts[name]
            cls = load_backend_class(account.type)
            secret = ctx.secrets.get(name) if getattr(cls, "needs_secret", False) else None
            if getattr(cls, "needs_secret", False) and not secret:
                raise NotifyError(
                    f"account {name!r} has no secret: run `mailconsole secrets set {name}`",
                    retry=False,
                )
            backend = cls.create(
                BackendContext(
                    name=name,
                    options=account.backend_options(),
                    secret=secret,
                    http=client,
                    clock=ctx.clock,
                    default_from=account.from_addr,
                )
            )
        try:
            results = await backend.send(
                [
                    OutgoingMessage(
                        id=0,
                        from_addr=message.from_addr,
                        to=message.to,
                        subject=message.subject,
                        text=message.text,
                        tag=message.tag,
                    )
                ]
            )
        finally:
            if owned:
                await backend.aclose()
        result = results[0]
        if result.outcome is Outcome.SENT:
            return f"sent through {name}" + (
                f" as {result.provider_message_id}" if result.provider_message_id else ""
            )
        raise NotifyError(
            f"{name}: {result.error_code or result.outcome}: {result.error_message or ''}".strip(),
            retry=result.outcome is Outcome.TRANSIENT,
        )


@dataclass
class HookNotifier:
    """A Python callable registered under the entry-point group `mailconsole.alert_hooks`.

    It receives the payload (a dict); it may be a plain function (run in a thread) or async.
    """

    kind: ClassVar[str] = "hook"
    name: str
    func: Callable[[Mapping[str, Any]], Any]
    tries: int | None = None
    timeout_seconds: float | None = None

    async def send(self, payload: Mapping[str, Any], client: httpx.AsyncClient) -> str | None:
        if inspect.iscoroutinefunction(self.func):
            result = await self.func(dict(payload))
        else:
            result = await in_daemon_thread(
                self.func, dict(payload), name=f"alert-hook-{self.name}"
            )
            if inspect.isawaitable(result):
                result = await result
        return None if result is None else str(result)[:200]


def in_daemon_thread(func: Callable[[Any], Any], arg: Any, *, name: str) -> asyncio.Future[Any]:
    """Run a blocking hook in its own daemon thread.

    Not the loop's default executor: `asyncio.run` joins that executor on exit, so a hook that
    hangs past its timeout would hang `mailconsole alerts evaluate` (and process exit) with it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, error = func(arg), None
        except BaseException as exc:
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is gone: nobody waits for this hook any more
            pass

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def available_hooks() -> list[str]:
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=HOOK_GROUP)})


def load_hook(name: str) -> Callable[..., Any]:
    for ep in importlib.metadata.entry_points(group=HOOK_GROUP):
        if ep.name == name:
            return ep.load()
    installed = ", ".join(available_hooks()) or "none"
    raise ConfigError(
        f"no alert hook {name!r}: installed hooks are {installed} (a package registers one under "
        f"the entry-point group '{HOOK_GROUP}')"
    )


def build_notifier(ctx: AppContext, name: str) -> Notifier:
    """The notifier `name` from the config; ConfigError/SecretError say what to fix."""
    cfg = ctx.config.notifiers.get(name)
    if cfg is None:
        known = ", ".join(sorted(ctx.config.notifiers)) or "none configured"
        raise ConfigError(f"no notifier {name!r} (notifiers: {known})")
    if cfg.type == "slack":
        opts = _options(name, cfg, SlackOptions)
        return SlackNotifier(
            name, _secret(ctx, name, "Slack webhook URL"), opts.tries, opts.timeout_seconds
        )
    if cfg.type == "webhook":
        opts = _options(name, cfg, WebhookOptions)
        return WebhookNotifier(
            name,
            opts.url,
            _secret(ctx, name, "signing secret"),
            opts.tries,
            opts.timeout_seconds,
            now=lambda: ctx.clock.now().timestamp(),
        )
    if cfg.type == "email":
        opts = _options(name, cfg, EmailOptions)
        account = opts.account or ctx.config.primary_account
        if account is None or account not in ctx.config.accounts:
            raise ConfigError(
                f"notifiers.{name}.account: {account!r} is not a configured account"
                if account
                else f"notifiers.{name}: set `account`, or configure a primary account"
            )
        return EmailNotifier(name, ctx, opts, account, opts.tries, opts.timeout_seconds)
    if cfg.type == "hook":
        opts = _options(name, cfg, HookOptions)
        return HookNotifier(name, load_hook(opts.hook), opts.tries, opts.timeout_seconds)
    raise ConfigError(f"notifiers.{name}.type: unknown type {cfg.type!r}")  # pragma: no cover


# --- texts -----------------------------------------------------------------------------------------

EMOJI = {
    "firing": ":rotating_light:",
    "repeat": ":rotating_light:",
    "escalated": ":rotating_light:",
    "resolved": ":white_check_mark:",
    "test": ":information_source:",
}


def _slack_escape(text: str) -> str:
    """Slack's three control characters; nothing in a notice can become a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(payload: Mapping[str, Any]) -> str:
    kind = str(payload.get("kind", ""))
    lines = [
        f"{EMOJI.get(kind, '')} *{_slack_escape(str(payload.get('summary', '')))}*".strip(),
        _slack_escape(str(payload.get("metrics_summary", ""))),
        f"at {payload.get('time', '')}",
    ]
    return "\n".join(line for line in lines if line)


def email_text(payload: Mapping[str, Any]) -> str:
    rows = [
        str(payload.get("summary", "")),
        "",
        f"rule:      {payload.get('rule')}",
        f"metric:    {payload.get('metric')}"
        + (f" on {payload['backend']}" if payload.get("backend") else ""),
        f"state:     {payload.get('state')} ({payload.get('kind')})",
        f"level:     {payload.get('level') or '-'}",
        f"value:     {payload.get('value_text')}",
        f"threshold: {payload.get('threshold')}  warning: {payload.get('warning')}",
        f"time:      {payload.get('time')}",
        "",
        f"queue:     {payload.get('metrics_summary', '')}",
        "",
        "Acknowledge: mailconsole alerts ack " + str(payload.get("rule")),
    ]
    return "\n".join(rows) + "\n"


# --- delivery ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    notification_id: int
    target: str
    status: str  # sent | failed
    tries: int
    error: str | None
    detail: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    tries: int
    timeout_s: float
    backoff_s: float
    total_s: float


def policy_for(ctx: AppContext, notifier: Notifier | None) -> RetryPolicy:
    a = ctx.config.alerts
    return RetryPolicy(
        tries=(notifier.tries if notifier and notifier.tries else a.notify_tries),
        timeout_s=(
            notifier.timeout_seconds
            if notifier and notifier.timeout_seconds
            else a.notify_timeout_seconds
        ),
        backoff_s=a.notify_backoff_seconds,
        total_s=a.notify_total_seconds,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, NotifyError):
        return str(exc)
    if isinstance(exc, httpx.HTTPError):
        from mailconsole.backend_api import http_exception_result

        code, message = http_exception_result(exc)
        return f"{code}: {message}"
    return f"{type(exc).__name__}: {exc}"


async def send_with_retries(
    notifier: Notifier,
    payload: Mapping[str, Any],
    client: httpx.AsyncClient,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[bool, int, str | None, str | None]:
    """(ok, tries, error, detail): a few tries, each under a timeout, within a total bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.total_s
    error: str | None = None
    tries = 0
    for attempt in range(1, policy.tries + 1):
        remaining = deadline - loop.time()
        if remaining <= 0:
            error = f"{error or 'no try'}; gave up after {policy.total_s:g} s"
            break
        tries = attempt
        try:
            detail = await asyncio.wait_for(
                notifier.send(payload, client), timeout=min(policy.timeout_s, remaining)
            )
            return True, tries, None, detail
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = _describe(exc)
            if isinstance(exc, NotifyError | ConfigError) and not getattr(exc, "retry", False):
                break
        if attempt < policy.tries:
            pause = min(policy.backoff_s * (2 ** (attempt - 1)), max(0.0, deadline - loop.time()))
            if pause > 0:
                await sleep(pause)
    return False, tries, error, None


async def deliver_all(
    ctx: AppContext,
    notices: Sequence[tuple[int, str, Mapping[str, Any]]],
    *,
    owner: str,
    client: httpx.AsyncClient | None = None,
    on_done: Callable[[DeliveryResult], None] | None = None,
) -> list[DeliveryResult]:
    """Deliver (id, target, payload) notices concurrently; each is marked as soon as it ends."""
    from mailconsole.alerts.state import mark_delivered

    if not notices:
        return []
    own_client = client is None
    http = client or ctx.http_factory()
    cache: dict[str, Notifier | Exception] = {}

    def notifier_for(target: str) -> Notifier | Exception:
        if target not in cache:
            try:
                cache[target] = build_notifier(ctx, target)
            except Exception as exc:
                cache[target] = exc
        return cache[target]

    async def one(notification_id: int, target: str, payload: Mapping[str, Any]) -> DeliveryResult:
        notifier = notifier_for(target)
        if isinstance(notifier, Exception):
            ok, tries, error, detail = False, 0, str(notifier), None
        else:
            ok, tries, error, detail = await send_with_retries(
                notifier, payload, http, policy_for(ctx, notifier)
            )
        result = DeliveryResult(
            notification_id, target, "sent" if ok else "failed", tries, error, detail
        )
        if not ok:
            log.warning("alert notice %s to %s failed: %s", notification_id, target, error)
        await asyncio.to_thread(
            mark_delivered,
            ctx.db,
            notification_id,
            owner=owner,
            status=result.status,
            tries=tries,
            error=error,
            at=ctx.clock.now(),
        )
        if on_done is not None:
            on_done(result)
        return result

    try:
        return list(await asyncio.gather(*(one(i, t, p) for i, t, p in notices)))
    finally:
        if own_client:
            await http.aclose()
