"""An async client for Listmonk's admin API (v4+), as the console and the tx backend use it.

Facts it is built on (see reference/providers.md and DESIGN.md, Campaigns):
- auth header `Authorization: token <api_user>:<token>`; bad credentials answer 403;
- `per_page` is silently capped at 50, so every listing pages until `total` is reached;
- a missing record is a 400 whose message ends in "not found", not a 404;
- a campaign update re-validates `send_at` and refuses one in the past.

Reads (GET) are idempotent and retried on 5xx, 429, timeouts and connection failures with a short
backoff on the injected clock; writes are never retried here (a retried status change or tx send
could act twice), the caller decides.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import httpx

from mailconsole.clock import SYSTEM_CLOCK, Clock
from mailconsole.listmonk.errors import (
    ListmonkAuthError,
    ListmonkError,
    ListmonkNotFoundError,
    ListmonkRequestError,
    ListmonkUnavailableError,
)
from mailconsole.listmonk.models import (
    ANALYTICS_KINDS,
    CAMPAIGN_STATUSES,
    AnalyticsCount,
    Bounce,
    Campaign,
    ImportStatus,
    MailingList,
    RunningStats,
    Subscriber,
    Template,
    format_time,
)

PER_PAGE = 50  # Listmonk's server-side cap
MAX_MESSAGE_CHARS = 300
IMPORT_MODES = ("subscribe", "blocklist")


def normalize_base_url(base_url: str) -> str:
    """`https://lists.example.com/`, `…/api` or `…/api/` → `https://lists.example.com`."""
    url = base_url.strip().rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


def sql_quote(value: str) -> str:
    """A string literal for Listmonk's subscriber `query` (an SQL expression): 'o''brien'."""
    return "'" + value.replace("'", "''") + "'"


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


class ListmonkClient:
    """One Listmonk instance, reached with one API user.

    `http` is injected (tests pass a client bound to the fake server or a MockTransport); the
    client closes it in `aclose()` only when `owns_http` is true.
    """

    def __init__(
        self,
        base_url: str,
        api_user: str,
        token: str,
        http: httpx.AsyncClient,
        clock: Clock = SYSTEM_CLOCK,
        *,
        account: str = "listmonk",
        timeout_seconds: float = 30.0,
        read_retries: int = 3,
        retry_backoff_seconds: float = 0.5,
        owns_http: bool = False,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.api_user = api_user
        self._token = token
        self.http = http
        self.clock = clock
        self.account = account
        self.timeout_seconds = timeout_seconds
        self.read_retries = max(0, read_retries)
        self.retry_backoff_seconds = retry_backoff_seconds
        self.owns_http = owns_http

    def __repr__(self) -> str:  # never show the token
        return f"ListmonkClient({self.base_url!r}, api_user={self.api_user!r}, account={self.account!r})"

    async def aclose(self) -> None:
        if self.owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> ListmonkClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- transport ---------------------------------------------------------------------------

    @property
    def _auth_header(self) -> dict[str, str]:
        return {"Authorization": f"token {self.api_user}:{self._token}"}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        files: Any = None,
        data: Any = None,
        action: str | None = None,
        what: str | None = None,
    ) -> Any:
        """Send one request (GETs retried); return the `data` member of Listmonk's answer."""
        url = f"{self.base_url}/api{path}"
        action = action or f"{method} /api{path}"
        attempts = 1 + (self.read_retries if method == "GET" else 0)
        last: ListmonkError | None = None
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await self.clock.sleep(self._backoff(attempt - 1, last))
            try:
                response = await self.http.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    files=files,
                    data=data,
                    headers=self._auth_header,
                    timeout=self.timeout_seconds,
                )
            except httpx.TimeoutException as exc:
                last = ListmonkUnavailableError(
                    f"Listmonk (account {self.account}) did not answer {action} within "
                    f"{self.timeout_seconds:g}s ({type(exc).__name__}){self._tries(attempt)}",
                    error_code="timeout",
                )
                continue
            except httpx.TransportError as exc:
                last = ListmonkUnavailableError(
                    f"cannot reach Listmonk (account {self.account}) at {self.base_url}: "
                    f"{_one_line(str(exc)) or type(exc).__name__}{self._tries(attempt)}",
                    error_code="connect_error",
                )
                continue
            status = response.status_code
            if status < 400:
                return self._payload(response, action)
            error = self._http_error(response, action, what, attempt)
            if isinstance(error, ListmonkUnavailableError):
                last = error
                continue
            raise error
        assert last is not None
        raise last

    def _backoff(self, retry: int, last: ListmonkError | None) -> float:
        wait = self.retry_backoff_seconds * (2 ** (retry - 1))
        if last is not None and last.retry_after is not None:
            wait = max(wait, min(last.retry_after, 30.0))
        return wait

    def _tries(self, attempt: int) -> str:
        return f" (after {attempt} attempts)" if attempt > 1 else ""

    def _payload(self, response: httpx.Response, action: str) -> Any:
        try:
            body = response.json()
        except ValueError:
            raise ListmonkUnavailableError(
                f"Listmonk (account {self.account}) answered {action} with something that is "
                f"not JSON (HTTP {response.status_code}): is base_url {self.base_url} the "
                "Listmonk server?",
                status=response.status_code,
                error_code="bad_response",
            ) from None
        if isinstance(body, Mapping) and "data" in body:
            return body["data"]
        return body

    def _http_error(
        self, response: httpx.Response, action: str, what: str | None, attempt: int
    ) -> ListmonkError:
        status = response.status_code
        message = ""
        try:
            body = response.json()
            if isinstance(body, Mapping):
                message = _one_line(str(body.get("message") or ""))
        except ValueError:
            message = _one_line(response.text[:MAX_MESSAGE_CHARS])
        said = f": {message}" if message else ""
        if status in (401, 403):
            return ListmonkAuthError(
                f"Listmonk rejected the credentials for account {self.account} ({status}): "
                f"check api_user and the token (`mailconsole secrets set {self.account}`)",
                status=status,
                listmonk_message=message or None,
            )
        missing = status == 400 and message.lower().rstrip(".").endswith("not found")
        if status == 404 or (missing and what is not None):
            if missing:
                text = f"{message} (Listmonk account {self.account}, {what})"
            else:
                text = f"{what or action} not found in Listmonk (account {self.account}){said}"
            return ListmonkNotFoundError(
                text,
                status=status,
                listmonk_message=message or None,
            )
        if status in (408, 425, 429) or status >= 500:
            retry_after = None
            header = response.headers.get("Retry-After")
            if header:
                try:
                    retry_after = float(header)
                except ValueError:
                    retry_after = None
            return ListmonkUnavailableError(
                f"Listmonk (account {self.account}) is unavailable: HTTP {status} on {action}"
                f"{self._tries(attempt)}{said}",
                status=status,
                listmonk_message=message or None,
                retry_after=retry_after,
            )
        return ListmonkRequestError(
            f"Listmonk refused {action} ({status}){said or ': no reason given'}",
            status=status,
            listmonk_message=message or None,
        )

    async def _paged(
        self, path: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]], *, what: str
    ) -> list[Mapping[str, Any]]:
        """Every result of a paged listing: 50 per page (the cap), following `total`."""
        base = list(params.items()) if isinstance(params, Mapping) else list(params)
        out: list[Mapping[str, Any]] = []
        seen: set[Any] = set()
        page = 1
        max_pages: int | None = None
        while True:
            query = [*base, ("page", page), ("per_page", PER_PAGE)]
            data = await self._request("GET", path, params=query, what=what)
            results = (data or {}).get("results") if isinstance(data, Mapping) else None
            results = [r for r in (results or []) if isinstance(r, Mapping)]
            for item in results:
                key = item.get("id", id(item))
                if key in seen:  # a record moved between pages while we read
                    continue
                seen.add(key)
                out.append(item)
            total = _as_int((data or {}).get("total")) if isinstance(data, Mapping) else 0
            per_page = _as_int((data or {}).get("per_page")) or PER_PAGE
            if max_pages is None and total:
                max_pages = math.ceil(total / max(per_page, 1)) + 1
            if not results or len(out) >= total or (max_pages is not None and page >= max_pages):
                return out
            page += 1

    # --- campaigns ---------------------------------------------------------------------------

    async def health(self) -> bool:
        """GET /api/health: true when Listmonk and its database answer (needs valid credentials)."""
        data = await self._request("GET", "/health", what="the health endpoint")
        return data is True

    async def campaigns(
        self,
        status: str | Iterable[str] | None = None,
        tag: str | Iterable[str] | None = None,
        query: str | None = None,
        *,
        with_body: bool = False,
        order_by: str = "created_at",
        order: str = "DESC",
    ) -> list[Campaign]:
        """Every campaign matching the filters (all pages). Bodies are left out unless asked."""
        params: list[tuple[str, Any]] = [("order_by", order_by), ("order", order)]
        for value in _many(status):
            if value not in CAMPAIGN_STATUSES:
                raise ListmonkRequestError(
                    f"unknown campaign status {value!r}: use one of {', '.join(CAMPAIGN_STATUSES)}"
                )
            params.append(("status", value))
        params += [("tag", value) for value in _many(tag)]
        if query:
            params.append(("query", query))
        if not with_body:
            params.append(("no_body", "true"))
        rows = await self._paged("/campaigns", params, what="campaigns")
        return [Campaign.from_api(row) for row in rows]

    async def campaign(self, campaign_id: int) -> Campaign:
        """One campaign with its body."""
        data = await self._request(
            "GET", f"/campaigns/{int(campaign_id)}", what=f"campaign {campaign_id}"
        )
        return Campaign.from_api(data)

    async def update_campaign(self, campaign_id: int, changes: Mapping[str, Any]) -> Campaign:
        """PUT the whole campaign with `changes` applied (Listmonk validates the full body).

        A future `send_at` is kept (a scheduled campaign stays scheduled for the same time).
        """
        current = await self.campaign(campaign_id)
        keep = current.send_at if current.send_at and current.send_at > self.clock.now() else None
        body = current.request_body(send_at=keep)
        body.update(changes)
        data = await self._request(
            "PUT",
            f"/campaigns/{int(campaign_id)}",
            json_body=body,
            action=f"the update of campaign {campaign_id}",
            what=f"campaign {campaign_id}",
        )
        return Campaign.from_api(data)

    async def set_campaign_status(
        self, campaign_id: int, status: str, send_at: datetime | None = None
    ) -> Campaign:
        """Move a campaign (Listmonk enforces the allowed moves and answers 400 otherwise).

        For "scheduled" with `send_at`, the campaign's `send_at` is first set by a full PUT
        (`send_later: true`), as Listmonk requires a date before scheduling.
        """
        if status not in CAMPAIGN_STATUSES or status == "finished":
            raise ListmonkRequestError(
                f"cannot set campaign status {status!r}: use scheduled, running, paused, "
                "cancelled or draft"
            )
        if send_at is not None:
            if status != "scheduled":
                raise ListmonkRequestError("send_at is only used when scheduling a campaign")
            current = await self.campaign(campaign_id)
            await self._request(
                "PUT",
                f"/campaigns/{int(campaign_id)}",
                json_body=current.request_body(send_at=send_at),
                action=f"setting send_at of campaign {campaign_id} to {format_time(send_at)}",
                what=f"campaign {campaign_id}",
            )
        data = await self._request(
            "PUT",
            f"/campaigns/{int(campaign_id)}/status",
            json_body={"status": status},
            action=f"the move of campaign {campaign_id} to {status}",
            what=f"campaign {campaign_id}",
        )
        return Campaign.from_api(data)

    async def test_campaign(self, campaign_id: int, emails: Sequence[str]) -> None:
        """Send the campaign as it is now to `emails`, which must already be subscribers.

        Listmonk skips addresses it does not know and refuses when it knows none of them.
        """
        addresses = [e.strip().lower() for e in emails if e and e.strip()]
        if not addresses:
            raise ListmonkRequestError(
                f"no test recipients for campaign {campaign_id}: the testers' list is empty"
            )
        current = await self.campaign(campaign_id)
        body = current.request_body()
        body["subscribers"] = addresses
        await self._request(
            "POST",
            f"/campaigns/{int(campaign_id)}/test",
            json_body=body,
            action=f"the test send of campaign {campaign_id}",
            what=f"campaign {campaign_id}",
        )

    async def running_stats(self, campaign_ids: Iterable[int] = ()) -> list[RunningStats]:
        """Progress of the running campaigns."""
        params = [("campaign_id", int(i)) for i in campaign_ids]
        data = await self._request(
            "GET", "/campaigns/running/stats", params=params or None, what="running stats"
        )
        return [RunningStats.from_api(row) for row in (data or []) if isinstance(row, Mapping)]

    async def analytics(
        self,
        kind: str,
        campaign_id: int | Iterable[int],
        start: datetime | date,
        end: datetime | date,
    ) -> list[AnalyticsCount]:
        """Daily counts of views, clicks or bounces for one campaign (or several) in a window."""
        if kind not in ANALYTICS_KINDS:
            raise ListmonkRequestError(
                f"unknown analytics kind {kind!r}: use {', '.join(ANALYTICS_KINDS)}"
            )
        ids = [campaign_id] if isinstance(campaign_id, int) else list(campaign_id)
        params = [("id", int(i)) for i in ids]
        params += [("from", format_time(start)), ("to", format_time(end))]
        data = await self._request(
            "GET", f"/campaigns/analytics/{kind}", params=params, what=f"{kind} analytics"
        )
        return [AnalyticsCount.from_api(row) for row in (data or []) if isinstance(row, Mapping)]

    # --- lists, subscribers, templates -------------------------------------------------------

    async def lists(self, query: str | None = None) -> list[MailingList]:
        params: list[tuple[str, Any]] = [("order_by", "name"), ("order", "ASC")]
        if query:
            params.append(("query", query))
        rows = await self._paged("/lists", params, what="lists")
        return [MailingList.from_api(row) for row in rows]

    async def list_by_name(self, name: str) -> MailingList | None:
        """The list called exactly `name` (Listmonk's `query` is a fuzzy search), or None."""
        for item in await self.lists(query=name):
            if item.name == name:
                return item
        return None

    async def subscribers(
        self,
        query: str | None = None,
        list_id: int | Iterable[int] | None = None,
        subscription_status: str | None = None,
    ) -> list[Subscriber]:
        """Subscribers matching an SQL `query` on the subscribers table and/or on lists."""
        params: list[tuple[str, Any]] = []
        if query:
            params.append(("query", query))
        ids = [] if list_id is None else [list_id] if isinstance(list_id, int) else list(list_id)
        params += [("list_id", int(i)) for i in ids]
        if subscription_status:
            params.append(("subscription_status", subscription_status))
        rows = await self._paged("/subscribers", params, what="subscribers")
        return [Subscriber.from_api(row) for row in rows]

    async def subscriber_by_email(self, email: str) -> Subscriber | None:
        rows = await self.subscribers(
            query=f"subscribers.email = {sql_quote(email.strip().lower())}"
        )
        return rows[0] if rows else None

    async def templates(self) -> list[Template]:
        data = await self._request(
            "GET", "/templates", params={"no_body": "true"}, what="templates"
        )
        return [Template.from_api(row) for row in (data or []) if isinstance(row, Mapping)]

    # --- bounces -----------------------------------------------------------------------------

    async def bounces(
        self, campaign_id: int | None = None, subscriber_id: int | None = None
    ) -> list[Bounce]:
        """Bounce records, all of them or for one campaign and/or one subscriber."""
        if subscriber_id is not None:
            data = await self._request(
                "GET",
                f"/subscribers/{int(subscriber_id)}/bounces",
                what=f"subscriber {subscriber_id}",
            )
            rows = [Bounce.from_api(r) for r in (data or []) if isinstance(r, Mapping)]
            if campaign_id is not None:
                rows = [b for b in rows if b.campaign_id == campaign_id]
            return rows
        params: list[tuple[str, Any]] = [("order_by", "created_at"), ("order", "desc")]
        if campaign_id is not None:
            params.append(("campaign_id", int(campaign_id)))
        return [Bounce.from_api(r) for r in await self._paged("/bounces", params, what="bounces")]

    async def delete_subscriber_bounces(self, subscriber_id: int) -> None:
        await self._request(
            "DELETE",
            f"/subscribers/{int(subscriber_id)}/bounces",
            action=f"clearing the bounces of subscriber {subscriber_id}",
            what=f"subscriber {subscriber_id}",
        )

    # --- transactional -----------------------------------------------------------------------

    async def send_tx(
        self,
        template_id: int,
        subscriber_emails: Sequence[str],
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
        content_type: str | None = None,
        *,
        from_email: str | None = None,
        messenger: str | None = None,
        subscriber_mode: str | None = None,
    ) -> None:
        """POST /api/tx: one templated message to each address (never retried here)."""
        body: dict[str, Any] = {
            "template_id": int(template_id),
            "subscriber_emails": list(subscriber_emails),
            "data": dict(data or {}),
        }
        if headers:
            if isinstance(headers, Mapping):
                body["headers"] = [{str(k): str(v)} for k, v in headers.items()]
            else:
                body["headers"] = [dict(h) for h in headers]
        if content_type:
            body["content_type"] = content_type
        if from_email:
            body["from_email"] = from_email
        if messenger:
            body["messenger"] = messenger
        if subscriber_mode:
            body["subscriber_mode"] = subscriber_mode
        await self._request("POST", "/tx", json_body=body, action="the transactional send")

    # --- import ------------------------------------------------------------------------------

    async def import_subscribers(
        self,
        csv_bytes: bytes,
        mode: str = "subscribe",
        list_ids: Iterable[int] = (),
        delimiter: str = ",",
        *,
        overwrite: bool = False,
        subscription_status: str | None = None,
        filename: str = "subscribers.csv",
    ) -> ImportStatus:
        """Start an import (multipart `params` JSON + `file`); follow it with `import_status`."""
        if mode not in IMPORT_MODES:
            raise ListmonkRequestError(f"unknown import mode {mode!r}: use subscribe or blocklist")
        if len(delimiter) != 1:
            raise ListmonkRequestError("the CSV delimiter must be a single character")
        params: dict[str, Any] = {
            "mode": mode,
            "delim": delimiter,
            "lists": [int(i) for i in list_ids],
            "overwrite": overwrite,
        }
        if subscription_status:
            params["subscription_status"] = subscription_status
        data = await self._request(
            "POST",
            "/import/subscribers",
            data={"params": json.dumps(params)},
            files={"file": (filename, csv_bytes, "text/csv")},
            action="the subscriber import",
        )
        return ImportStatus.from_api(data if isinstance(data, Mapping) else {})

    async def import_status(self) -> ImportStatus:
        data = await self._request("GET", "/import/subscribers", what="the import status")
        return ImportStatus.from_api(data if isinstance(data, Mapping) else {})

    async def import_logs(self) -> str:
        data = await self._request("GET", "/import/subscribers/logs", what="the import log")
        return data if isinstance(data, str) else ""

    async def stop_import(self) -> ImportStatus:
        data = await self._request("DELETE", "/import/subscribers", action="stopping the import")
        return ImportStatus.from_api(data if isinstance(data, Mapping) else {})

    async def follow_import(
        self, interval_seconds: float = 1.0, max_polls: int | None = None
    ) -> AsyncIterator[ImportStatus]:
        """Poll the importer, yielding each status, until it is no longer running."""
        polls = 0
        while True:
            status = await self.import_status()
            polls += 1
            yield status
            if not status.running or (max_polls is not None and polls >= max_polls):
                return
            await self.clock.sleep(interval_seconds)


def _many(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
