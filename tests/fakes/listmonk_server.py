"""A fake Listmonk (v4 admin API) on 127.0.0.1, built from `reference/listmonk-openapi.yaml`.

A real HTTP server (`ThreadingHTTPServer`, HTTP/1.1 keep-alive) in its own threads, so the client,
the tx backend, the CLI and a Textual screen all talk to it the way they would talk to Listmonk.
It enforces what Listmonk enforces (checked against Listmonk's source):
- auth `Authorization: token <api_user>:<token>` (or Basic with the same pair); a bad or missing
  header answers 403;
- paging: `per_page` defaults to 20, is silently capped at 50, `per_page=all` returns everything;
  an empty listing answers `{"results": []}` with no total, as Listmonk does;
- a missing record answers **400** "<Thing> not found" (Listmonk's answer), an unknown route 404;
- campaign status moves (providers.md): scheduled ← draft|paused (needs `send_at`); running ←
  draft|paused; paused ← running; cancelled ← running|paused; draft ← scheduled; anything else
  400 with Listmonk's message ("Only active campaigns can be paused.");
- campaign edits (PUT) only in draft/scheduled/paused, with a full body (non-empty `lists`, name,
  subject, a future `send_at`); each edit bumps `updated_at`;
- test sends need a valid campaign body with non-empty `lists` and go only to known subscribers
  (unknown ones are skipped; none known → 400 "No known subscribers to test.");
- tx sends need a tx template and known subscribers (each unknown one → 400, the others are sent);
- imports: multipart `params` + `file`; the status moves importing → finished as it is polled
  (`import_step` rows per poll), with a log; one import at a time.

Seeding (all return ids): `add_list`, `add_subscriber`, `subscribe`, `add_template`,
`add_campaign`, `add_bounce`, `add_analytics`, and `seed_default()` for a realistic instance
(see `DefaultSeed`). Simulating Listmonk's side: `edit_campaign` (an edit in Listmonk's UI),
`force_campaign` (set anything, e.g. finish a campaign or auto-pause it).
Faults: `fail_next(status, times, message=, path=, method=, retry_after=)`, `delay_next(seconds,
times, path=)`. Inspection: `requests` (every request as `RecordedRequest`), `tx_sent`,
`test_sends`, `status_changes`, `max_concurrent`, `campaign_json(id)`, `subscriber(id)`, `subscriber_id(email)`,
`bounce_count(subscriber_id)`, `import_state`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP as HTTP_POLICY
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mailconsole.clock import SYSTEM_CLOCK, Clock

DEFAULT_API_USER = "mailconsole"
DEFAULT_TOKEN = "listmonk-test-token"
MAX_PER_PAGE = 50
DEFAULT_PER_PAGE = 20
EDITABLE = ("draft", "scheduled", "paused")
CONTENT_TYPES = ("richtext", "html", "markdown", "plain", "visual")
TX_CONTENT_TYPES = ("html", "markdown", "plain")
MESSAGES = {
    "auth": "Invalid API credentials",
    "campaign_nf": "Campaign not found",
    "list_nf": "List not found",
    "subscriber_nf": "Subscriber not found",
    "cant_update": "Cannot update a running or a finished campaign",
    "only_scheduled_as_draft": "Only scheduled campaigns can be saved as drafts.",
    "only_draft_as_scheduled": "Only draft campaigns can be scheduled.",
    "needs_send_at": "Campaign needs a `send_at` date to be scheduled.",
    "only_paused_draft": "Only paused campaigns and drafts can be started.",
    "only_active_pause": "Only active campaigns can be paused.",
    "only_active_cancel": "Only active campaigns can be cancelled.",
    "invalid_data": "Invalid data",
    "invalid_name": "Invalid length for `name`.",
    "invalid_subject": "Invalid length for `subject`.",
    "invalid_send_at": "`send_at` date should be in the future.",
    "invalid_lists": "Invalid list IDs.",
    "no_subs_to_test": "There are no subscribers to target.",
    "no_known_subs": "No known subscribers to test.",
    "invalid_dates": "Invalid or empty dates.",
    "import_running": (
        "An import is already running. Wait for it to finish or stop it before trying again."
    ),
    "invalid_mode": "Invalid mode",
    "invalid_delim": "`delim` should be a single character",
}
UNSUBSCRIBE = '<p><a href="{{ UnsubscribeURL }}">Unsubscribe</a></p>'


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip().replace(" ", "T", 1)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)  # ValueError for the caller
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class ApiError(Exception):
    """An answer other than 200: `{"message": …}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class _Fault:
    status: int
    message: str
    remaining: int
    path: str | None
    method: str | None
    retry_after: float | None

    def matches(self, method: str, path: str) -> bool:
        return (self.path is None or path.startswith(self.path)) and (
            self.method is None or self.method == method
        )


@dataclass
class _Delay:
    seconds: float
    remaining: int
    path: str | None


@dataclass
class ImportState:
    name: str = ""
    total: int = 0
    imported: int = 0
    status: str = "none"
    log: list[str] = field(default_factory=list)
    pending: list[dict[str, str]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    line: int = 1

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "total": self.total,
            "imported": self.imported,
            "status": self.status,
        }


@dataclass(frozen=True)
class DefaultSeed:
    """The ids `seed_default()` created, so tests can name what they act on."""

    campaign_template: int
    tx_template: int
    tx_template_reset: int
    testers_list: int  # "mailing-testers", private, single opt-in, 2 subscribers
    newsletter_list: int  # public, double opt-in (passes the consent rule)
    legacy_list: int  # public, single opt-in (fails the consent rule)
    customers_list: int  # private, single opt-in
    testers: tuple[str, ...]
    subscribers: dict[str, int]  # email → id, every seeded subscriber
    ready_campaign: int  # draft → newsletter + customers: the governance happy path
    consent_failing_campaign: int  # draft → the public single opt-in list
    scheduled_campaign: int
    running_campaign: int
    paused_campaign: int
    cancelled_campaign: int
    finished_campaign: int  # with views, clicks and bounces over three days
    campaigns_by_status: dict[str, list[int]]
    total_campaigns: int


# --- a small evaluator for Listmonk's subscriber `query` (an SQL expression) ----------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>->>|->|::|<>|!=|<=|>=|=|<|>|\(|\)|,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_COLUMNS = ("id", "uuid", "email", "name", "status", "attribs", "created_at", "updated_at")


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"syntax error at or near {text[pos : pos + 10]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            num = m.group("num")
            out.append(("num", float(num) if "." in num else int(num)))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            out.append(("word", m.group("word")))
    return out


Node = Callable[[Mapping[str, Any]], Any]


class _QueryParser:
    """expr := or; or := and (OR and)*; and := not (AND not)*; not := NOT not | cmp;
    cmp := postfix [op postfix | IS [NOT] NULL|TRUE|FALSE | [NOT] (I)LIKE postfix | [NOT] IN (…)];
    postfix := primary ('->>' str | '->' str | '::' type)*; primary := literal | column | (expr)
    | LOWER(expr) | UPPER(expr)."""

    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def parse(self) -> Node:
        node = self._or()
        if self.i != len(self.toks):
            raise ValueError(f"syntax error at or near {self.toks[self.i][1]!r}")
        return node

    def _peek(self, offset: int = 0) -> tuple[str, Any] | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def _kw(self, *words: str) -> bool:
        tok = self._peek()
        return bool(tok and tok[0] == "word" and str(tok[1]).upper() in words)

    def _take(self, kind: str, value: Any = None) -> Any:
        tok = self._peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise ValueError(f"syntax error: expected {value or kind}")
        self.i += 1
        return tok[1]

    def _or(self) -> Node:
        left = self._and()
        while self._kw("OR"):
            self.i += 1
            right = self._and()
            left = (lambda a, b: lambda r: bool(a(r)) or bool(b(r)))(left, right)
        return left

    def _and(self) -> Node:
        left = self._not()
        while self._kw("AND"):
            self.i += 1
            right = self._not()
            left = (lambda a, b: lambda r: bool(a(r)) and bool(b(r)))(left, right)
        return left

    def _not(self) -> Node:
        if self._kw("NOT"):
            self.i += 1
            inner = self._not()
            return lambda r: not inner(r)
        return self._cmp()

    def _cmp(self) -> Node:
        left = self._postfix()
        tok = self._peek()
        if tok and tok[0] == "op" and tok[1] in ("=", "!=", "<>", "<", ">", "<=", ">="):
            self.i += 1
            right = self._postfix()
            return _compare(tok[1], left, right)
        negate = False
        if (
            self._kw("NOT")
            and self._peek(1)
            and str(self._peek(1)[1]).upper()
            in (  # type: ignore[index]
                "LIKE",
                "ILIKE",
                "IN",
            )
        ):
            self.i += 1
            negate = True
        if self._kw("LIKE", "ILIKE"):
            insensitive = str(self._take("word")).upper() == "ILIKE"
            right = self._postfix()
            node = _like(left, right, insensitive)
            return (lambda n: lambda r: not n(r))(node) if negate else node
        if self._kw("IN"):
            self.i += 1
            self._take("op", "(")
            items = [self._postfix()]
            while self._peek() == ("op", ","):
                self.i += 1
                items.append(self._postfix())
            self._take("op", ")")

            def within(r: Mapping[str, Any], left: Node = left, items: list[Node] = items) -> bool:
                value = left(r)
                return any(_equal(value, item(r)) for item in items)

            return (lambda n: lambda r: not n(r))(within) if negate else within
        if self._kw("IS"):
            self.i += 1
            neg = False
            if self._kw("NOT"):
                self.i += 1
                neg = True
            word = str(self._take("word")).upper()
            if word == "NULL":
                return lambda r: (left(r) is not None) if neg else (left(r) is None)
            if word in ("TRUE", "FALSE"):
                want = word == "TRUE"
                return lambda r: (_to_bool(left(r)) is want) != neg
            raise ValueError(f"syntax error at or near {word!r}")
        return left

    def _postfix(self) -> Node:
        node = self._primary()
        while True:
            tok = self._peek()
            if tok == ("op", "->>") or tok == ("op", "->"):
                self.i += 1
                key = self._take("str")
                as_text = tok[1] == "->>"
                node = (lambda n, k, t: lambda r: _json_get(n(r), k, t))(node, key, as_text)
            elif tok == ("op", "::"):
                self.i += 1
                typ = str(self._take("word")).lower()
                node = (lambda n, t: lambda r: _cast(n(r), t))(node, typ)
            else:
                return node

    def _primary(self) -> Node:
        tok = self._peek()
        if tok is None:
            raise ValueError("syntax error at end of input")
        kind, value = tok
        if kind in ("str", "num"):
            self.i += 1
            return lambda r: value
        if tok == ("op", "("):
            self.i += 1
            inner = self._or()
            self._take("op", ")")
            return inner
        if kind == "word":
            word = str(value)
            upper = word.upper()
            self.i += 1
            if upper in ("TRUE", "FALSE"):
                return lambda r: upper == "TRUE"
            if upper == "NULL":
                return lambda r: None
            if upper in ("LOWER", "UPPER") and self._peek() == ("op", "("):
                self.i += 1
                inner = self._or()
                self._take("op", ")")
                fn = str.lower if upper == "LOWER" else str.upper
                return lambda r: None if inner(r) is None else fn(str(inner(r)))
            column = word.lower().removeprefix("subscribers.")
            if column not in _COLUMNS:
                raise ValueError(f'column "{word}" does not exist')
            return lambda r: r.get(column)
        raise ValueError(f"syntax error at or near {value!r}")


def _json_get(value: Any, key: str, as_text: bool) -> Any:
    if not isinstance(value, Mapping) or key not in value:
        return None
    got = value[key]
    if not as_text or got is None:
        return got
    if isinstance(got, bool):
        return "true" if got else "false"
    if isinstance(got, (dict, list)):
        return json.dumps(got)
    return str(got)


def _to_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "t", "yes", "y", "on", "1"):
        return True
    if text in ("false", "f", "no", "n", "off", "0"):
        return False
    raise ValueError(f'invalid input syntax for type boolean: "{value}"')


def _cast(value: Any, typ: str) -> Any:
    if value is None:
        return None
    if typ in ("bool", "boolean"):
        return _to_bool(value)
    if typ in ("int", "integer", "bigint"):
        return int(float(value))
    if typ in ("numeric", "float", "decimal", "real"):
        return float(value)
    if typ in ("text", "varchar"):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if typ in ("date", "timestamp", "timestamptz"):
        return value if isinstance(value, datetime) else _parse_time(value)
    raise ValueError(f'type "{typ}" does not exist')


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, bool) and isinstance(b, str):
        return a, _to_bool(b)
    if isinstance(b, bool) and isinstance(a, str):
        return _to_bool(a), b
    if isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, str):
        return a, float(b)
    if isinstance(b, (int, float)) and not isinstance(b, bool) and isinstance(a, str):
        return float(a), b
    if isinstance(a, datetime) and isinstance(b, str):
        return a, _parse_time(b)
    if isinstance(b, datetime) and isinstance(a, str):
        return _parse_time(a), b
    return a, b


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    a, b = _coerce(a, b)
    return a == b


def _compare(op: str, left: Node, right: Node) -> Node:
    def run(r: Mapping[str, Any]) -> bool:
        a, b = left(r), right(r)
        if a is None or b is None:
            return False
        a, b = _coerce(a, b)
        if op == "=":
            return a == b
        if op in ("!=", "<>"):
            return a != b
        try:
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        except TypeError:
            raise ValueError(
                f"operator does not exist: {type(a).__name__} {op} {type(b).__name__}"
            ) from None

    return run


def _like(left: Node, right: Node, insensitive: bool) -> Node:
    def run(r: Mapping[str, Any]) -> bool:
        value, pattern = left(r), right(r)
        if value is None or pattern is None:
            return False
        regex = "".join(
            ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in str(pattern)
        )
        flags = re.IGNORECASE | re.DOTALL if insensitive else re.DOTALL
        return re.fullmatch(regex, str(value), flags) is not None

    return run


def compile_subscriber_query(text: str) -> Node:
    """Listmonk's `query` parameter → a predicate on a subscriber row; ValueError when invalid."""
    return _QueryParser(text).parse()


# --- the fake ------------------------------------------------------------------------------------


class FakeListmonk:
    """Listmonk's admin API on 127.0.0.1. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        api_user: str = DEFAULT_API_USER,
        token: str = DEFAULT_TOKEN,
        clock: Clock | None = None,
        max_per_page: int = MAX_PER_PAGE,
        import_step: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_user = api_user
        self.token = token
        self.clock = clock or SYSTEM_CLOCK
        self.max_per_page = max_per_page
        self.import_step = import_step
        self._host = host
        self._port = port
        self.lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids: dict[str, int] = {}
        self.lists: dict[int, dict[str, Any]] = {}
        self.subscribers: dict[int, dict[str, Any]] = {}
        self.subscriptions: dict[tuple[int, int], dict[str, Any]] = {}
        self.templates: dict[int, dict[str, Any]] = {}
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.bounces: dict[int, dict[str, Any]] = {}
        self.analytics: list[dict[str, Any]] = []  # {campaign_id, kind, at, count}
        self.tx_sent: list[dict[str, Any]] = []
        self.test_sends: list[dict[str, Any]] = []
        self.status_changes: list[tuple[int, str, str]] = []
        self.import_state = ImportState()
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._in_flight = 0
        self.max_concurrent = 0  # most requests in flight at once
        self._routes = self._build_routes()

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> FakeListmonk:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer((self._host, self._port), handler)
        server.daemon_threads = True
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-listmonk", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeListmonk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeListmonk is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"token {self.api_user}:{self.token}"}

    # --- faults ----------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 503,
        times: int = 1,
        *,
        message: str | None = None,
        path: str | None = None,
        method: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next `times` requests matching `path` (a prefix, e.g. "/api/campaigns") and
        `method` answer `status` with `{"message": …}` and change nothing."""
        with self.lock:
            self._faults.append(
                _Fault(status, message or f"HTTP {status}", times, path, method, retry_after)
            )

    def delay_next(self, seconds: float, times: int = 1, *, path: str | None = None) -> None:
        """The next `times` requests on `path` (prefix) wait `seconds` before being handled."""
        with self.lock:
            self._delays.append(_Delay(seconds, times, path))

    def reset_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._delays.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.path == path and (method is None or r.method == method)
        ]

    # --- seeding ---------------------------------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _now(self) -> datetime:
        return self.clock.now()

    def add_list(
        self,
        name: str,
        type: str = "private",
        optin: str = "single",
        *,
        tags: Sequence[str] = (),
        description: str = "",
    ) -> int:
        with self.lock:
            lid = self._next_id("list")
            now = self._now()
            self.lists[lid] = {
                "id": lid,
                "uuid": str(uuid.uuid4()),
                "name": name,
                "type": type,
                "optin": optin,
                "tags": list(tags),
                "description": description,
                "created_at": now,
                "updated_at": now,
            }
            return lid

    def add_subscriber(
        self,
        email: str,
        name: str | None = None,
        *,
        attribs: Mapping[str, Any] | None = None,
        lists: Iterable[int] = (),
        status: str = "enabled",
        subscription_status: str = "confirmed",
    ) -> int:
        with self.lock:
            sid = self._next_id("subscriber")
            now = self._now()
            self.subscribers[sid] = {
                "id": sid,
                "uuid": str(uuid.uuid4()),
                "email": email.strip().lower(),
                "name": name if name is not None else email.split("@", 1)[0],
                "attribs": dict(attribs or {}),
                "status": status,
                "created_at": now,
                "updated_at": now,
            }
            for lid in lists:
                self.subscribe(sid, lid, subscription_status)
            return sid

    def subscribe(self, subscriber_id: int, list_id: int, status: str = "confirmed") -> None:
        with self.lock:
            if list_id not in self.lists:
                raise KeyError(f"no list {list_id}")
            now = self._now()
            self.subscriptions[(subscriber_id, list_id)] = {
                "status": status,
                "created_at": now,
                "updated_at": now,
            }

    def add_template(
        self,
        name: str,
        type: str = "campaign",
        *,
        subject: str = "",
        body: str | None = None,
        is_default: bool = False,
    ) -> int:
        with self.lock:
            tid = self._next_id("template")
            now = self._now()
            if body is None:
                body = (
                    '<html><body>{{ template "content" . }}</body></html>'
                    if type != "tx"
                    else "<p>{{ .Tx.Data }}</p>"
                )
            if is_default:
                for tpl in self.templates.values():
                    tpl["is_default"] = False
            self.templates[tid] = {
                "id": tid,
                "name": name,
                "type": type,
                "subject": subject,
                "body": body,
                "is_default": is_default,
                "created_at": now,
                "updated_at": now,
            }
            return tid

    def add_campaign(
        self,
        name: str,
        *,
        lists: Iterable[int] = (),
        status: str = "draft",
        subject: str | None = None,
        body: str | None = None,
        altbody: str | None = None,
        from_email: str = "News <news@example.com>",
        content_type: str = "richtext",
        template_id: int | None = None,
        tags: Sequence[str] = (),
        headers: Sequence[Mapping[str, str]] = (),
        send_at: datetime | None = None,
        started_at: datetime | None = None,
        created_at: datetime | None = None,
        to_send: int | None = None,
        sent: int = 0,
        rate: float = 0.0,
    ) -> int:
        with self.lock:
            cid = self._next_id("campaign")
            now = self._now()
            if template_id is None:
                template_id = self._default_template_id()
            self.campaigns[cid] = {
                "id": cid,
                "uuid": str(uuid.uuid4()),
                "name": name,
                "subject": subject if subject is not None else name,
                "from_email": from_email,
                "body": body if body is not None else f"<p>{name}</p>{UNSUBSCRIBE}",
                "altbody": altbody,
                "content_type": content_type,
                "type": "regular",
                "status": status,
                "tags": list(tags),
                "headers": [dict(h) for h in headers],
                "template_id": template_id,
                "messenger": "email",
                "list_ids": list(lists),
                "send_at": send_at,
                "started_at": started_at,
                "created_at": created_at or now,
                "updated_at": max(created_at or now, started_at or created_at or now),
                "to_send": to_send,
                "sent": sent,
                "archive": False,
                "rate": rate,
            }
            if status in ("running", "paused", "cancelled", "finished"):
                camp = self.campaigns[cid]
                if camp["to_send"] is None:
                    camp["to_send"] = self._audience(camp["list_ids"])
                if camp["started_at"] is None:
                    camp["started_at"] = camp["created_at"]
            return cid

    def edit_campaign(self, campaign_id: int, **fields: Any) -> None:
        """An edit made in Listmonk itself (its UI or another client): content changes and
        `updated_at` moves. `lists` takes list ids."""
        with self.lock:
            camp = self._campaign(campaign_id)
            for key, value in fields.items():
                if key == "lists":
                    camp["list_ids"] = [int(v) for v in value]
                elif key == "headers":
                    camp["headers"] = [dict(h) for h in value]
                elif key in camp:
                    camp[key] = value
                else:
                    raise KeyError(f"unknown campaign field {key!r}")
            self._touch(camp)

    def force_campaign(self, campaign_id: int, **fields: Any) -> None:
        """Set fields as Listmonk's own workers would (finish, auto-pause, progress), no checks
        and no `updated_at` bump unless given."""
        with self.lock:
            camp = self._campaign(campaign_id)
            for key, value in fields.items():
                if key == "lists":
                    camp["list_ids"] = [int(v) for v in value]
                else:
                    camp[key] = value

    def add_bounce(
        self,
        subscriber_id: int,
        *,
        campaign_id: int | None = None,
        type: str = "hard",
        source: str = "api",
        created_at: datetime | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        with self.lock:
            if subscriber_id not in self.subscribers:
                raise KeyError(f"no subscriber {subscriber_id}")
            bid = self._next_id("bounce")
            self.bounces[bid] = {
                "id": bid,
                "subscriber_id": subscriber_id,
                "campaign_id": campaign_id,
                "type": type,
                "source": source,
                "meta": dict(meta or {}),
                "created_at": created_at or self._now(),
            }
            return bid

    def add_analytics(self, campaign_id: int, kind: str, at: datetime, count: int = 1) -> None:
        """`count` views or clicks of a campaign at `at` (bounces come from `add_bounce`)."""
        if kind not in ("views", "clicks"):
            raise ValueError("kind is views or clicks; add bounces with add_bounce()")
        with self.lock:
            self.analytics.append(
                {"campaign_id": campaign_id, "kind": kind, "at": at, "count": int(count)}
            )

    def seed_default(self) -> DefaultSeed:
        """A realistic instance: four lists (the testers' list, public double and single opt-in,
        private), a dozen subscribers with `marketing_opt_in` attributes, templates, bounces,
        analytics, and 120 campaigns over every status (three pages of 50)."""
        with self.lock:
            now = self._now()
            tpl = self.add_template("Default campaign template", "campaign", is_default=True)
            tx = self.add_template(
                "Order receipt", "tx", subject="Your order {{ .Tx.Data.order_id }}"
            )
            tx_reset = self.add_template("Password reset", "tx", subject="Reset your password")
            testers = self.add_list("mailing-testers", "private", "single", tags=["internal"])
            newsletter = self.add_list(
                "Newsletter", "public", "double", description="Monthly news, double opt-in"
            )
            legacy = self.add_list(
                "Product updates (legacy)", "public", "single", description="Imported in 2019"
            )
            customers = self.add_list("Customers", "private", "single")
            subs: dict[str, int] = {}
            tester_emails = ("qa-1@example.com", "qa-2@example.com")
            for email in tester_emails:
                subs[email] = self.add_subscriber(
                    email, attribs={"marketing_opt_in": True, "role": "tester"}, lists=[testers]
                )
            people = [
                ("ana@example.org", True, [newsletter, customers], "confirmed"),
                ("ben@example.org", True, [newsletter], "confirmed"),
                ("chloe@example.org", False, [newsletter, customers], "confirmed"),
                ("dev@example.org", True, [newsletter], "unconfirmed"),
                ("emma@example.org", None, [newsletter, legacy], "confirmed"),
                ("farid@example.org", True, [legacy], "confirmed"),
                ("gina@example.org", True, [legacy, customers], "confirmed"),
                ("hugo@example.org", True, [customers], "confirmed"),
                ("ines+promo@example.org", True, [newsletter], "confirmed"),
                ("jon@example.org", False, [customers], "unsubscribed"),
            ]
            for email, opt_in, lists, sub_status in people:
                attribs = {} if opt_in is None else {"marketing_opt_in": opt_in}
                subs[email] = self.add_subscriber(
                    email, attribs=attribs, lists=lists, subscription_status=sub_status
                )
            subs["blocked@example.org"] = self.add_subscriber(
                "blocked@example.org",
                attribs={"marketing_opt_in": False},
                lists=[customers],
                status="blocklisted",
                subscription_status="unsubscribed",
            )

            by_status: dict[str, list[int]] = {
                s: [] for s in ("draft", "scheduled", "running", "paused", "cancelled", "finished")
            }

            def camp(name: str, status: str, **kw: Any) -> int:
                cid = self.add_campaign(name, status=status, template_id=tpl, **kw)
                by_status[status].append(cid)
                return cid

            # Filler first (older), so the named campaigns come first in created_at DESC order.
            cycle = ["finished"] * 6 + ["draft", "cancelled", "finished", "draft"]
            for n in range(1, 114):
                status = cycle[n % len(cycle)]
                camp(
                    f"Archive mailing {n:03d}",
                    status,
                    lists=[newsletter] if n % 3 else [customers],
                    tags=["archive", f"y{2020 + n % 5}"],
                    created_at=now - timedelta(days=400 - n * 3),
                    sent=0 if status == "draft" else 100 + n,
                    to_send=None if status == "draft" else 100 + n,
                )
            finished = camp(
                "Winter newsletter",
                "finished",
                lists=[newsletter],
                subject="Winter is here: our best picks",
                tags=["newsletter"],
                created_at=now - timedelta(days=20),
                started_at=now - timedelta(days=14),
                to_send=6,
                sent=6,
            )
            cancelled = camp(
                "Old announcement",
                "cancelled",
                lists=[customers],
                created_at=now - timedelta(days=12),
                started_at=now - timedelta(days=11),
                to_send=4,
                sent=1,
            )
            paused = camp(
                "Autumn promo",
                "paused",
                lists=[customers],
                tags=["promo"],
                created_at=now - timedelta(days=9),
                started_at=now - timedelta(days=2),
                to_send=4000,
                sent=1250,
            )
            running = camp(
                "Weekly digest #12",
                "running",
                lists=[newsletter],
                tags=["digest"],
                created_at=now - timedelta(days=5),
                started_at=now - timedelta(hours=1),
                to_send=5000,
                sent=1800,
                rate=42.0,
            )
            scheduled = camp(
                "Black Friday teaser",
                "scheduled",
                lists=[newsletter, customers],
                tags=["promo"],
                created_at=now - timedelta(days=3),
                send_at=now + timedelta(days=2),
            )
            consent_failing = camp(
                "Legacy product news",
                "draft",
                lists=[legacy],
                tags=["product"],
                created_at=now - timedelta(days=2),
            )
            ready = camp(
                "Spring sale",
                "draft",
                lists=[newsletter, customers],
                subject="Spring sale: 20% off everything",
                body=(
                    "<h1>Spring sale</h1><p>Hi {{ .Subscriber.FirstName }}, 20% off this week.</p>"
                    + UNSUBSCRIBE
                ),
                altbody="Spring sale: 20% off this week.",
                tags=["promo", "spring"],
                headers=[{"X-Campaign": "spring-sale"}],
                created_at=now - timedelta(days=1),
            )
            # The finished campaign's scorecard: views, clicks and bounces over three days.
            start = (now - timedelta(days=14)).replace(hour=9, minute=0, second=0, microsecond=0)
            for day, (views, clicks) in enumerate([(4, 2), (1, 1), (1, 0)]):
                self.add_analytics(finished, "views", start + timedelta(days=day), views)
                self.add_analytics(finished, "clicks", start + timedelta(days=day), clicks)
            self.add_bounce(
                subs["emma@example.org"],
                campaign_id=finished,
                type="hard",
                created_at=start + timedelta(hours=1),
                meta={"diagnostic": "550 5.1.1 user unknown"},
            )
            self.add_bounce(
                subs["emma@example.org"],
                campaign_id=finished,
                type="soft",
                created_at=start + timedelta(days=1),
            )
            self.add_bounce(
                subs["ben@example.org"], campaign_id=finished, type="soft", created_at=start
            )
            return DefaultSeed(
                campaign_template=tpl,
                tx_template=tx,
                tx_template_reset=tx_reset,
                testers_list=testers,
                newsletter_list=newsletter,
                legacy_list=legacy,
                customers_list=customers,
                testers=tester_emails,
                subscribers=subs,
                ready_campaign=ready,
                consent_failing_campaign=consent_failing,
                scheduled_campaign=scheduled,
                running_campaign=running,
                paused_campaign=paused,
                cancelled_campaign=cancelled,
                finished_campaign=finished,
                campaigns_by_status=by_status,
                total_campaigns=len(self.campaigns),
            )

    # --- inspection ------------------------------------------------------------------------------

    def campaign_json(self, campaign_id: int, *, body: bool = True) -> dict[str, Any]:
        """The campaign exactly as the API returns it."""
        with self.lock:
            return self._campaign_json(self._campaign(campaign_id), body=body)

    def subscriber(self, subscriber_id: int) -> dict[str, Any]:
        with self.lock:
            return self._subscriber_json(self.subscribers[subscriber_id])

    def subscriber_id(self, email: str) -> int | None:
        with self.lock:
            for sub in self.subscribers.values():
                if sub["email"] == email.strip().lower():
                    return sub["id"]
        return None

    def bounce_count(self, subscriber_id: int) -> int:
        with self.lock:
            return sum(1 for b in self.bounces.values() if b["subscriber_id"] == subscriber_id)

    def list_members(self, list_id: int, status: str | None = None) -> list[int]:
        with self.lock:
            return sorted(
                sid
                for (sid, lid), sub in self.subscriptions.items()
                if lid == list_id and (status is None or sub["status"] == status)
            )

    # --- internals -------------------------------------------------------------------------------

    def _default_template_id(self) -> int | None:
        for tpl in self.templates.values():
            if tpl["is_default"] and tpl["type"] == "campaign":
                return tpl["id"]
        return None

    def _campaign(self, campaign_id: int) -> dict[str, Any]:
        camp = self.campaigns.get(int(campaign_id))
        if camp is None:
            raise ApiError(400, MESSAGES["campaign_nf"])
        return camp

    def _touch(self, record: dict[str, Any]) -> None:
        """Move `updated_at` forward, strictly, even on a fake clock that stands still."""
        now = self._now()
        previous = record.get("updated_at")
        if previous is not None and now <= previous:
            now = previous + timedelta(milliseconds=1)
        record["updated_at"] = now

    def _audience(self, list_ids: Iterable[int]) -> int:
        """Who a campaign would reach: enabled subscribers, confirmed on double opt-in lists,
        not unsubscribed on single opt-in lists; each counted once."""
        found: set[int] = set()
        for (sid, lid), sub in self.subscriptions.items():
            if lid not in list_ids:
                continue
            lst = self.lists.get(lid)
            person = self.subscribers.get(sid)
            if lst is None or person is None or person["status"] == "blocklisted":
                continue
            if sub["status"] == "unsubscribed":
                continue
            if lst["optin"] == "double" and sub["status"] != "confirmed":
                continue
            found.add(sid)
        return len(found)

    def _campaign_json(self, camp: dict[str, Any], *, body: bool = True) -> dict[str, Any]:
        cid = camp["id"]
        views = sum(
            a["count"] for a in self.analytics if a["campaign_id"] == cid and a["kind"] == "views"
        )
        clicks = sum(
            a["count"] for a in self.analytics if a["campaign_id"] == cid and a["kind"] == "clicks"
        )
        bounces = sum(1 for b in self.bounces.values() if b["campaign_id"] == cid)
        to_send = camp["to_send"]
        if to_send is None:
            to_send = self._audience(camp["list_ids"])
        return {
            "id": cid,
            "created_at": _iso(camp["created_at"]),
            "updated_at": _iso(camp["updated_at"]),
            "views": views,
            "clicks": clicks,
            "bounces": bounces,
            "lists": [
                {"id": lid, "name": self.lists[lid]["name"] if lid in self.lists else ""}
                for lid in camp["list_ids"]
            ],
            "media": [],
            "started_at": _iso(camp["started_at"]),
            "to_send": to_send,
            "sent": camp["sent"],
            "uuid": camp["uuid"],
            "type": camp["type"],
            "name": camp["name"],
            "subject": camp["subject"],
            "from_email": camp["from_email"],
            "body": camp["body"] if body else "",
            "altbody": camp["altbody"],
            "send_at": _iso(camp["send_at"]),
            "status": camp["status"],
            "content_type": camp["content_type"],
            "tags": list(camp["tags"]),
            "headers": [dict(h) for h in camp["headers"]],
            "template_id": camp["template_id"],
            "messenger": camp["messenger"],
            "archive": camp["archive"],
            "archive_slug": None,
            "archive_template_id": camp["template_id"],
            "archive_meta": {},
        }

    def _list_json(self, lst: dict[str, Any]) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for (_sid, lid), sub in self.subscriptions.items():
            if lid == lst["id"]:
                statuses[sub["status"]] = statuses.get(sub["status"], 0) + 1
        count = sum(n for status, n in statuses.items() if status != "unsubscribed")
        return {
            "id": lst["id"],
            "created_at": _iso(lst["created_at"]),
            "updated_at": _iso(lst["updated_at"]),
            "uuid": lst["uuid"],
            "name": lst["name"],
            "type": lst["type"],
            "optin": lst["optin"],
            "tags": list(lst["tags"]),
            "description": lst["description"],
            "subscriber_count": count,
            "subscriber_statuses": statuses,
        }

    def _subscriber_json(self, sub: dict[str, Any]) -> dict[str, Any]:
        lists = []
        for (sid, lid), subscription in sorted(self.subscriptions.items()):
            if sid != sub["id"] or lid not in self.lists:
                continue
            lst = self.lists[lid]
            lists.append(
                {
                    "id": lid,
                    "uuid": lst["uuid"],
                    "name": lst["name"],
                    "type": lst["type"],
                    "optin": lst["optin"],
                    "tags": list(lst["tags"]),
                    "subscription_status": subscription["status"],
                    "subscription_created_at": _iso(subscription["created_at"]),
                    "subscription_updated_at": _iso(subscription["updated_at"]),
                    "created_at": _iso(lst["created_at"]),
                    "updated_at": _iso(lst["updated_at"]),
                }
            )
        return {
            "id": sub["id"],
            "uuid": sub["uuid"],
            "email": sub["email"],
            "name": sub["name"],
            "attribs": dict(sub["attribs"]),
            "status": sub["status"],
            "lists": lists,
            "created_at": _iso(sub["created_at"]),
            "updated_at": _iso(sub["updated_at"]),
        }

    def _bounce_json(self, bounce: dict[str, Any]) -> dict[str, Any]:
        sub = self.subscribers.get(bounce["subscriber_id"], {})
        camp = self.campaigns.get(bounce["campaign_id"]) if bounce["campaign_id"] else None
        return {
            "id": bounce["id"],
            "type": bounce["type"],
            "source": bounce["source"],
            "meta": dict(bounce["meta"]),
            "created_at": _iso(bounce["created_at"]),
            "email": sub.get("email", ""),
            "subscriber_uuid": sub.get("uuid", ""),
            "subscriber_id": bounce["subscriber_id"],
            "campaign": {"id": camp["id"], "name": camp["name"]} if camp else None,
            "campaign_uuid": camp["uuid"] if camp else None,
        }

    def _template_json(self, tpl: dict[str, Any], *, body: bool) -> dict[str, Any]:
        return {
            "id": tpl["id"],
            "created_at": _iso(tpl["created_at"]),
            "updated_at": _iso(tpl["updated_at"]),
            "name": tpl["name"],
            "type": tpl["type"],
            "subject": tpl["subject"],
            "body": tpl["body"] if body else "",
            "body_source": None,
            "is_default": tpl["is_default"],
        }

    # --- request plumbing ------------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value).decode()
            except (ValueError, UnicodeDecodeError):
                return False
        elif scheme.lower() != "token":
            return False
        return value == f"{self.api_user}:{self.token}"

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _take_delay(self, path: str) -> float:
        with self.lock:
            for item in self._delays:
                if item.path is None or path.startswith(item.path):
                    item.remaining -= 1
                    if item.remaining <= 0:
                        self._delays.remove(item)
                    return item.seconds
        return 0.0

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """One request → (status, JSON body, extra headers). Called from the server threads."""
        with self.lock:
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
        try:
            return self._handle(method, raw_path, headers, body)
        finally:
            with self.lock:
                self._in_flight -= 1

    def _handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        with self.lock:
            self._requests.append(
                RecordedRequest(
                    method, path, query, {k.lower(): v for k, v in headers.items()}, body
                )
            )
        delay = self._take_delay(path)
        if delay:
            self._stopping.wait(delay)
        fault = self._take_fault(method, path)
        if fault is not None:
            extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after else {}
            return fault.status, {"message": fault.message}, extra
        for route_method, pattern, handler in self._routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            if route_method != method:
                continue
            lowered = {k.lower(): v for k, v in headers.items()}
            if not self._authorised(lowered.get("authorization")):
                return 403, {"message": MESSAGES["auth"]}, {}
            req = _Request(method, path, query, dict(headers), body, m.groupdict())
            try:
                with self.lock:
                    data = handler(req)
            except ApiError as exc:
                return exc.status, {"message": exc.message}, {}
            return 200, {"data": data}, {}
        if any(p.fullmatch(path) for _m, p, _h in self._routes):
            return 405, {"message": "Method Not Allowed"}, {}
        return 404, {"message": "Not Found"}, {}

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[[_Request], Any]]]:
        table: list[tuple[str, str, Callable[[_Request], Any]]] = [
            ("GET", r"/api/health", lambda r: True),
            ("GET", r"/api/campaigns", self._get_campaigns),
            ("POST", r"/api/campaigns", self._create_campaign),
            ("GET", r"/api/campaigns/running/stats", self._running_stats),
            ("GET", r"/api/campaigns/analytics/(?P<kind>[a-z]+)", self._analytics),
            ("GET", r"/api/campaigns/(?P<id>-?\d+)", self._get_campaign),
            ("PUT", r"/api/campaigns/(?P<id>-?\d+)", self._update_campaign),
            ("DELETE", r"/api/campaigns/(?P<id>-?\d+)", self._delete_campaign),
            ("PUT", r"/api/campaigns/(?P<id>-?\d+)/status", self._campaign_status),
            ("POST", r"/api/campaigns/(?P<id>-?\d+)/test", self._test_campaign),
            ("GET", r"/api/lists", self._get_lists),
            ("POST", r"/api/lists", self._create_list),
            ("GET", r"/api/lists/(?P<id>-?\d+)", self._get_list),
            ("GET", r"/api/subscribers", self._get_subscribers),
            ("POST", r"/api/subscribers", self._create_subscriber),
            ("GET", r"/api/subscribers/(?P<id>-?\d+)", self._get_subscriber),
            ("GET", r"/api/subscribers/(?P<id>-?\d+)/bounces", self._get_subscriber_bounces),
            ("DELETE", r"/api/subscribers/(?P<id>-?\d+)/bounces", self._delete_subscriber_bounces),
            ("GET", r"/api/bounces", self._get_bounces),
            ("GET", r"/api/templates", self._get_templates),
            ("POST", r"/api/templates", self._create_template),
            ("POST", r"/api/tx", self._tx),
            ("GET", r"/api/import/subscribers", self._import_status),
            ("POST", r"/api/import/subscribers", self._import_start),
            ("DELETE", r"/api/import/subscribers", self._import_stop),
            ("GET", r"/api/import/subscribers/logs", self._import_logs),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    # --- paging ----------------------------------------------------------------------------------

    def _page(self, req: _Request, rows: list[Any], query: str = "") -> dict[str, Any]:
        if not rows:
            return {"results": []}
        raw_per_page = req.arg("per_page")
        page = max(1, _int_arg(req.arg("page"), 1))
        if raw_per_page == "all":
            return {
                "results": rows,
                "query": query,
                "search": "",
                "total": len(rows),
                "per_page": 0,
                "page": 1,
            }
        per_page = _int_arg(raw_per_page, DEFAULT_PER_PAGE)
        if per_page < 1:
            per_page = DEFAULT_PER_PAGE
        per_page = min(per_page, self.max_per_page)
        start = (page - 1) * per_page
        return {
            "results": rows[start : start + per_page],
            "query": query,
            "search": "",
            "total": len(rows),
            "per_page": per_page,
            "page": page,
        }

    @staticmethod
    def _order(
        rows: list[dict[str, Any]], req: _Request, allowed: Sequence[str], default: str, desc: bool
    ) -> list[dict[str, Any]]:
        key = req.arg("order_by") or default
        if key not in allowed:
            key = default
        direction = (req.arg("order") or ("DESC" if desc else "ASC")).upper()

        def sort_key(row: dict[str, Any]) -> tuple[Any, int]:
            value = row.get(key)
            if isinstance(value, str):
                value = value.lower()
            return (value is None, value if value is not None else 0, row["id"])  # type: ignore[return-value]

        return sorted(rows, key=sort_key, reverse=direction == "DESC")

    # --- campaigns -------------------------------------------------------------------------------

    def _get_campaigns(self, req: _Request) -> Any:
        statuses = req.args("status")
        tags = req.args("tag")
        text = (req.arg("query") or "").strip().lower()
        rows = []
        for camp in self.campaigns.values():
            if statuses and camp["status"] not in statuses:
                continue
            if tags and not set(tags) <= set(camp["tags"]):
                continue
            if text and text not in camp["name"].lower() and text not in camp["subject"].lower():
                continue
            rows.append(camp)
        rows = self._order(
            rows, req, ("name", "status", "created_at", "updated_at"), "created_at", True
        )
        no_body = (req.arg("no_body") or "").lower() in ("true", "1")
        page = self._page(req, rows, req.arg("query") or "")
        page["results"] = [self._campaign_json(c, body=not no_body) for c in page["results"]]
        return page

    def _get_campaign(self, req: _Request) -> Any:
        camp = self._campaign(req.id())
        no_body = (req.arg("no_body") or "").lower() in ("true", "1")
        return self._campaign_json(camp, body=not no_body)

    def _validate_campaign(self, data: dict[str, Any]) -> None:
        if not str(data.get("name") or "").strip():
            raise ApiError(400, MESSAGES["invalid_name"])
        if not str(data.get("subject") or "").strip():
            raise ApiError(400, MESSAGES["invalid_subject"])
        send_at = data.get("send_at")
        if send_at is not None and send_at < self._now():
            raise ApiError(400, MESSAGES["invalid_send_at"])
        list_ids = data.get("list_ids") or []
        if not list_ids or any(lid not in self.lists for lid in list_ids):
            raise ApiError(400, MESSAGES["invalid_lists"])
        if data.get("messenger", "email") != "email":
            raise ApiError(400, f"Unknown messenger {data.get('messenger')}.")
        if data.get("content_type") not in CONTENT_TYPES:
            raise ApiError(400, "Invalid content type.")
        tid = data.get("template_id")
        if tid is not None and tid not in self.templates:
            raise ApiError(400, f"template {tid} not found")

    def _merge_campaign(self, base: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
        """Listmonk binds the request over the stored campaign; `lists` must always be sent."""
        merged = dict(base)
        for key in (
            "name",
            "subject",
            "from_email",
            "body",
            "altbody",
            "content_type",
            "messenger",
            "archive",
        ):
            if key in body and body[key] is not None:
                merged[key] = body[key]
        if "altbody" in body:
            merged["altbody"] = body["altbody"]
        if "tags" in body:
            merged["tags"] = [str(t) for t in (body.get("tags") or [])]
        if "headers" in body:
            merged["headers"] = [dict(h) for h in (body.get("headers") or [])]
        if "template_id" in body and body["template_id"] is not None:
            merged["template_id"] = _int_arg(body["template_id"], 0) or None
        raw_lists = body.get("lists")
        try:
            merged["list_ids"] = [int(v) for v in (raw_lists or [])]
        except (TypeError, ValueError):
            raise ApiError(400, MESSAGES["invalid_lists"]) from None
        try:
            if body.get("send_later") is True:
                merged["send_at"] = _parse_time(body.get("send_at"))
                if merged["send_at"] is None:
                    raise ApiError(400, MESSAGES["invalid_send_at"])
            elif body.get("send_later") is False:
                merged["send_at"] = None
            elif "send_at" in body:
                merged["send_at"] = _parse_time(body.get("send_at"))
        except ValueError:
            raise ApiError(400, MESSAGES["invalid_send_at"]) from None
        return merged

    def _create_campaign(self, req: _Request) -> Any:
        body = req.json_object()
        base = {
            "name": "",
            "subject": "",
            "from_email": "News <news@example.com>",
            "body": "",
            "altbody": None,
            "content_type": "richtext",
            "messenger": "email",
            "archive": False,
            "tags": [],
            "headers": [],
            "template_id": self._default_template_id(),
            "send_at": None,
        }
        merged = self._merge_campaign(base, body)
        self._validate_campaign(merged)
        cid = self.add_campaign(
            merged["name"],
            lists=merged["list_ids"],
            subject=merged["subject"],
            body=merged["body"],
            altbody=merged["altbody"],
            from_email=merged["from_email"],
            content_type=merged["content_type"],
            template_id=merged["template_id"],
            tags=merged["tags"],
            headers=merged["headers"],
            send_at=merged["send_at"],
        )
        return self._campaign_json(self.campaigns[cid])

    def _update_campaign(self, req: _Request) -> Any:
        camp = self._campaign(req.id())
        if camp["status"] not in EDITABLE:
            raise ApiError(400, MESSAGES["cant_update"])
        merged = self._merge_campaign(camp, req.json_object())
        self._validate_campaign(merged)
        camp.update(merged)
        self._touch(camp)
        return self._campaign_json(camp)

    def _delete_campaign(self, req: _Request) -> Any:
        camp = self._campaign(req.id())
        del self.campaigns[camp["id"]]
        return True

    def _campaign_status(self, req: _Request) -> Any:
        camp = self._campaign(req.id())
        status = str(req.json_object().get("status") or "")
        current = camp["status"]
        error = None
        if status == "draft":
            if current != "scheduled":
                error = "only_scheduled_as_draft"
        elif status == "scheduled":
            if current not in ("draft", "paused"):
                error = "only_draft_as_scheduled"
            if camp["send_at"] is None:
                error = "needs_send_at"
        elif status == "running":
            if current not in ("paused", "draft"):
                error = "only_paused_draft"
        elif status == "paused":
            if current != "running":
                error = "only_active_pause"
        elif status == "cancelled":
            if current not in ("running", "paused"):
                error = "only_active_cancel"
        else:
            error = "invalid_data"
        if error:
            raise ApiError(400, MESSAGES[error])
        if status == "running":
            if camp["to_send"] is None:
                camp["to_send"] = self._audience(camp["list_ids"])
            if camp["started_at"] is None:
                camp["started_at"] = self._now()
        camp["status"] = status
        self._touch(camp)
        self.status_changes.append((camp["id"], current, status))
        return self._campaign_json(camp)

    def _test_campaign(self, req: _Request) -> Any:
        camp = self._campaign(req.id())
        body = req.json_object()
        merged = self._merge_campaign(camp, body)
        self._validate_campaign(merged)
        emails = [str(e).strip().lower() for e in (body.get("subscribers") or []) if str(e).strip()]
        if not emails:
            raise ApiError(400, MESSAGES["no_subs_to_test"])
        known = [e for e in emails if self.subscriber_id(e) is not None]
        if not known:
            raise ApiError(400, MESSAGES["no_known_subs"])
        self.test_sends.append(
            {
                "campaign_id": camp["id"],
                "emails": known,
                "skipped": [e for e in emails if e not in known],
                "subject": merged["subject"],
                "body": merged["body"],
                "template_id": merged["template_id"],
                "lists": list(merged["list_ids"]),
                "headers": [dict(h) for h in merged["headers"]],
                "at": self._now(),
            }
        )
        return True

    def _running_stats(self, req: _Request) -> Any:
        now = self._now()
        out = []
        for camp in sorted(self.campaigns.values(), key=lambda c: c["id"]):
            if camp["status"] != "running":
                continue
            started = camp["started_at"] or now
            minutes = max(int((now - started).total_seconds() // 60), 1)
            net_rate = min(camp["sent"] // minutes, camp["sent"])
            out.append(
                {
                    "id": camp["id"],
                    "status": camp["status"],
                    "to_send": camp["to_send"] or 0,
                    "sent": camp["sent"],
                    "started_at": _iso(camp["started_at"]),
                    "updated_at": _iso(camp["updated_at"]),
                    "rate": camp["rate"],
                    "net_rate": net_rate,
                }
            )
        return out

    def _analytics(self, req: _Request) -> Any:
        kind = req.params["kind"]
        if kind == "links":
            return []
        if kind not in ("views", "clicks", "bounces"):
            raise ApiError(400, MESSAGES["invalid_data"])
        try:
            ids = [int(v) for v in req.args("id")]
        except ValueError:
            raise ApiError(400, "Invalid IDs") from None
        if not ids:
            raise ApiError(400, "Missing fields: `id`")
        start, end = req.arg("from") or "", req.arg("to") or ""
        if not (10 <= len(start) <= 30 and 10 <= len(end) <= 30):
            raise ApiError(400, MESSAGES["invalid_dates"])
        try:
            lo, hi = _parse_time(start), _parse_time(end)
        except ValueError:
            raise ApiError(400, MESSAGES["invalid_dates"]) from None
        assert lo is not None and hi is not None
        if kind == "bounces":
            events = [
                (b["campaign_id"], b["created_at"], 1)
                for b in self.bounces.values()
                if b["campaign_id"] in ids
            ]
        else:
            events = [
                (a["campaign_id"], a["at"], a["count"])
                for a in self.analytics
                if a["kind"] == kind and a["campaign_id"] in ids
            ]
        buckets: dict[tuple[int, date], int] = {}
        for cid, at, count in events:
            if lo <= at <= hi:
                key = (cid, at.date())
                buckets[key] = buckets.get(key, 0) + count
        return [
            {
                "campaign_id": cid,
                "count": count,
                "timestamp": datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat(),
            }
            for (cid, day), count in sorted(buckets.items())
        ]

    # --- lists -----------------------------------------------------------------------------------

    def _get_lists(self, req: _Request) -> Any:
        text = (req.arg("query") or "").strip().lower()
        tags = req.args("tag")
        rows = [
            lst
            for lst in self.lists.values()
            if (not text or text in lst["name"].lower()) and set(tags) <= set(lst["tags"])
        ]
        rows = self._order(rows, req, ("name", "created_at", "updated_at"), "created_at", False)
        page = self._page(req, rows, req.arg("query") or "")
        page["results"] = [self._list_json(lst) for lst in page["results"]]
        return page

    def _get_list(self, req: _Request) -> Any:
        lst = self.lists.get(req.id())
        if lst is None:
            raise ApiError(400, MESSAGES["list_nf"])
        return self._list_json(lst)

    def _create_list(self, req: _Request) -> Any:
        body = req.json_object()
        name = str(body.get("name") or "").strip()
        if not name:
            raise ApiError(400, "Invalid name")
        ltype = body.get("type") or "private"
        optin = body.get("optin") or "single"
        if ltype not in ("public", "private", "temporary") or optin not in ("single", "double"):
            raise ApiError(400, MESSAGES["invalid_data"])
        lid = self.add_list(
            name,
            ltype,
            optin,
            tags=body.get("tags") or [],
            description=str(body.get("description") or ""),
        )
        return self._list_json(self.lists[lid])

    # --- subscribers and bounces -----------------------------------------------------------------

    def _get_subscribers(self, req: _Request) -> Any:
        text = (req.arg("query") or "").strip()
        predicate = None
        if text:
            try:
                predicate = compile_subscriber_query(text)
            except ValueError as exc:
                raise ApiError(400, f"Error querying subscribers: {exc}") from None
        try:
            list_ids = [int(v) for v in req.args("list_id")]
        except ValueError:
            raise ApiError(400, "Invalid list ID") from None
        sub_status = req.arg("subscription_status") or ""
        rows = []
        for sub in self.subscribers.values():
            if list_ids:
                on = [
                    self.subscriptions[(sub["id"], lid)]
                    for lid in list_ids
                    if (sub["id"], lid) in self.subscriptions
                ]
                if not on or (sub_status and not any(s["status"] == sub_status for s in on)):
                    continue
            if predicate is not None:
                try:
                    if not predicate(sub):
                        continue
                except ValueError as exc:
                    raise ApiError(400, f"Error querying subscribers: {exc}") from None
            rows.append(sub)
        rows = self._order(
            rows, req, ("name", "status", "created_at", "updated_at", "id", "email"), "id", False
        )
        page = self._page(req, rows, text)
        page["results"] = [self._subscriber_json(s) for s in page["results"]]
        return page

    def _get_subscriber(self, req: _Request) -> Any:
        sub = self.subscribers.get(req.id())
        if sub is None:
            raise ApiError(400, MESSAGES["subscriber_nf"])
        return self._subscriber_json(sub)

    def _create_subscriber(self, req: _Request) -> Any:
        body = req.json_object()
        email = str(body.get("email") or "").strip().lower()
        if "@" not in email:
            raise ApiError(400, "Invalid email.")
        if self.subscriber_id(email) is not None:
            raise ApiError(409, "E-mail already exists.")
        status = "confirmed" if body.get("preconfirm_subscriptions") else "unconfirmed"
        sid = self.add_subscriber(
            email,
            body.get("name") or None,
            attribs=body.get("attribs") or {},
            lists=[int(v) for v in body.get("lists") or []],
            status=body.get("status") or "enabled",
            subscription_status=status,
        )
        return self._subscriber_json(self.subscribers[sid])

    def _get_subscriber_bounces(self, req: _Request) -> Any:
        sid = req.id()
        if sid not in self.subscribers:
            raise ApiError(400, MESSAGES["subscriber_nf"])
        rows = [b for b in self.bounces.values() if b["subscriber_id"] == sid]
        return [self._bounce_json(b) for b in sorted(rows, key=lambda b: b["id"])]

    def _delete_subscriber_bounces(self, req: _Request) -> Any:
        sid = req.id()
        if sid not in self.subscribers:
            raise ApiError(400, MESSAGES["subscriber_nf"])
        for bid in [bid for bid, b in self.bounces.items() if b["subscriber_id"] == sid]:
            del self.bounces[bid]
        return True

    def _get_bounces(self, req: _Request) -> Any:
        campaign_id = _int_arg(req.arg("campaign_id"), 0)
        source = req.arg("source") or ""
        rows = [
            b
            for b in self.bounces.values()
            if (not campaign_id or b["campaign_id"] == campaign_id)
            and (not source or b["source"] == source)
        ]
        rows = self._order(rows, req, ("created_at", "source"), "created_at", True)
        page = self._page(req, rows)
        page["results"] = [self._bounce_json(b) for b in page["results"]]
        return page

    # --- templates and tx ------------------------------------------------------------------------

    def _get_templates(self, req: _Request) -> Any:
        no_body = (req.arg("no_body") or "").lower() in ("true", "1")
        return [
            self._template_json(t, body=not no_body)
            for t in sorted(self.templates.values(), key=lambda t: t["id"])
        ]

    def _create_template(self, req: _Request) -> Any:
        body = req.json_object()
        name = str(body.get("name") or "").strip()
        ttype = body.get("type")
        content = str(body.get("body") or "")
        if not name:
            raise ApiError(400, "Invalid length for `name`.")
        if ttype not in ("campaign", "campaign_visual", "tx"):
            raise ApiError(400, "Invalid template type.")
        if ttype == "campaign" and content.count('{{ template "content" . }}') != 1:
            raise ApiError(
                400,
                'The placeholder {{ template "content" . }} should appear exactly once in the '
                "template.",
            )
        if ttype == "tx" and not str(body.get("subject") or "").strip():
            raise ApiError(400, "Invalid length for `subject`.")
        tid = self.add_template(name, ttype, subject=str(body.get("subject") or ""), body=content)
        return self._template_json(self.templates[tid], body=True)

    def _tx(self, req: _Request) -> Any:
        body = req.json_object()
        emails = body.get("subscriber_emails") or []
        single = body.get("subscriber_email")
        if emails and single:
            raise ApiError(400, "Invalid fields: do not send `subscriber_email`")
        if single:
            emails = [single]
        if not isinstance(emails, list) or not emails:
            raise ApiError(400, "Invalid fields: send subscriber_emails OR subscriber_ids")
        tid = _int_arg(body.get("template_id"), 0)
        tpl = self.templates.get(tid)
        if tpl is None or tpl["type"] != "tx":
            raise ApiError(400, f"template {tid} not found")
        content_type = body.get("content_type")
        if content_type and content_type not in TX_CONTENT_TYPES:
            raise ApiError(400, "Invalid content_type.")
        messenger = body.get("messenger") or "email"
        if messenger != "email":
            raise ApiError(400, f"Unknown messenger {messenger}.")
        mode = body.get("subscriber_mode") or "default"
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise ApiError(400, "Invalid fields: data")
        not_found = []
        for raw in emails:
            email = str(raw).strip().lower()
            sid = self.subscriber_id(email)
            if sid is None and mode == "default":
                not_found.append(MESSAGES["subscriber_nf"])
                continue
            self.tx_sent.append(
                {
                    "template_id": tid,
                    "email": email,
                    "subscriber_id": sid,
                    "data": data,
                    "headers": [dict(h) for h in body.get("headers") or []],
                    "content_type": content_type,
                    "from_email": body.get("from_email"),
                    "at": self._now(),
                }
            )
        if not_found:
            raise ApiError(400, "; ".join(not_found))
        return True

    # --- import ----------------------------------------------------------------------------------

    def _import_status(self, req: _Request) -> Any:
        state = self.import_state
        if state.status == "importing":
            self._import_advance()
        return state.as_json()

    def _import_logs(self, req: _Request) -> Any:
        return "\n".join(self.import_state.log) + ("\n" if self.import_state.log else "")

    def _import_stop(self, req: _Request) -> Any:
        state = self.import_state
        if state.status == "importing":
            state.status = "stopped"
            state.pending.clear()
            state.log.append("import stopped")
        else:
            self.import_state = ImportState()
        return self.import_state.as_json()

    def _import_start(self, req: _Request) -> Any:
        if self.import_state.status == "importing":
            raise ApiError(400, MESSAGES["import_running"])
        fields, files = req.multipart()
        try:
            params = json.loads(fields.get("params") or "{}")
        except ValueError as exc:
            raise ApiError(400, f"Invalid params: {exc}") from None
        if not isinstance(params, dict):
            raise ApiError(400, "Invalid params: not an object")
        mode = params.get("mode")
        if mode not in ("subscribe", "blocklist"):
            raise ApiError(400, MESSAGES["invalid_mode"])
        delim = params.get("delim") or ","
        if len(delim) != 1:
            raise ApiError(400, MESSAGES["invalid_delim"])
        lists = params.get("lists") or []
        if any(int(lid) not in self.lists for lid in lists):
            raise ApiError(400, MESSAGES["invalid_lists"])
        if "file" not in files:
            raise ApiError(400, "Invalid file: no file uploaded")
        filename, content = files["file"]
        state = ImportState(name=filename or "import.csv", params=params)
        state.log.append(f"processing '{state.name}'")
        try:
            reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=delim)
            rows = [dict(row) for row in reader]
            headers = [h.strip().lower() for h in (reader.fieldnames or [])]
        except (UnicodeDecodeError, csv.Error) as exc:
            state.status = "failed"
            state.log.append(f"error reading CSV: {exc}")
            self.import_state = state
            return state.as_json()
        if "email" not in headers:
            state.status = "failed"
            state.log.append("error: the CSV has no `email` column")
            self.import_state = state
            return state.as_json()
        state.pending = [{k.strip().lower(): (v or "") for k, v in r.items() if k} for r in rows]
        state.total = len(state.pending)
        state.status = "importing"
        state.log.append(f"{state.total} records to import")
        self.import_state = state
        return state.as_json()

    def _import_advance(self) -> None:
        state = self.import_state
        step = self.import_step or max(1, math.ceil(state.total / 3))
        batch, state.pending = state.pending[:step], state.pending[step:]
        mode = state.params.get("mode")
        lists = [int(v) for v in state.params.get("lists") or []]
        sub_status = state.params.get("subscription_status") or "unconfirmed"
        overwrite = bool(state.params.get("overwrite"))
        for row in batch:
            state.line += 1
            email = row.get("email", "").strip().lower()
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                state.log.append(f"skipping line {state.line}: invalid email {email!r}")
                continue
            try:
                attribs = json.loads(row.get("attributes") or "{}")
            except ValueError:
                state.log.append(f"skipping line {state.line}: invalid JSON in attributes")
                continue
            sid = self.subscriber_id(email)
            if sid is None:
                sid = self.add_subscriber(email, row.get("name") or None, attribs=attribs)
            elif overwrite:
                sub = self.subscribers[sid]
                sub["name"] = row.get("name") or sub["name"]
                sub["attribs"] = attribs if isinstance(attribs, dict) else sub["attribs"]
                self._touch(sub)
            if mode == "blocklist":
                self.subscribers[sid]["status"] = "blocklisted"
                for key in [k for k in self.subscriptions if k[0] == sid]:
                    self.subscriptions[key]["status"] = "unsubscribed"
            else:
                for lid in lists:
                    if (sid, lid) not in self.subscriptions:
                        self.subscribe(sid, lid, sub_status)
            state.imported += 1
        if not state.pending:
            state.status = "finished"
            state.log.append(f"imported finished: {state.imported} of {state.total} records")


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str]

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def args(self, name: str) -> list[str]:
        out: list[str] = []
        for value in self.query.get(name, []):
            out += [v for v in value.split(",") if v] if name == "id" else [value]
        return out

    def id(self) -> int:
        value = int(self.params["id"])
        if value < 1:
            raise ApiError(400, "Invalid ID")
        return value

    def json_object(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ApiError(400, f"Invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Invalid JSON: not an object")
        return data

    def multipart(self) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
        ctype = next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise ApiError(400, "Invalid params: expected multipart/form-data")
        message = BytesParser(policy=HTTP_POLICY).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + self.body
        )
        fields: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[str(name)] = (filename, payload)
            else:
                fields[str(name)] = payload.decode("utf-8", "replace")
        return fields, files


def _int_arg(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class _Handler(BaseHTTPRequestHandler):
    fake: FakeListmonk
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed ACK

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, extra = self.fake.handle(
            self.command, self.path, {k: v for k, v in self.headers.items()}, body
        )
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(raw)
        except OSError:
            pass  # the client gave up (a timeout test)

    do_GET = do_POST = do_PUT = do_DELETE = _serve
