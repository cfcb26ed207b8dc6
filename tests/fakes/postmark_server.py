"""A fake Postmark API on 127.0.0.1: a real HTTP server, so the backend's whole stack is exercised.

It runs in its own threads (`ThreadingHTTPServer`, one thread per connection, HTTP/1.1 keep-alive),
so it serves concurrent requests and works the same from sync code, async tests and benchmarks.

Scripting:
- per-recipient rules: `rules={"reject.example": 300, "inactive.example": 406}` (the default) or
  `server.rule("bad.example", 300)`: a message with any recipient at that domain gets that ErrorCode
  in the batch answer (HTTP 200), the others are accepted;
- `server.fail_next(status, times=1, error_code=None, message=None, retry_after=None,
  path="/email/batch")`: the next `times` requests on `path` (None = any path) answer `status`
  with `{"ErrorCode", "Message"}` (and `Retry-After` when given), receiving nothing; without
  `error_code`, 401 carries 10, 422 carries 300, 429 carries 429, other statuses none;
- `server.bad_json_next(times=1)`: the next batch answers HTTP 200 with a body that is not JSON
  (its messages count as received: the provider may have taken them);
- `server.delay_next(seconds, times=1)`: the next `times` requests (any path) wait that long before
  answering (messages are recorded on arrival, as a provider that accepted them and answered late);
- `server.latency`: seconds added to every request (e.g. 0.05 for a benchmark).

Counters: `requests` (batch requests), `received` (every message, in arrival order, as
`ReceivedMessage`), `accepted` (those with ErrorCode 0), `accepted_ids()` (Counter of
`Metadata.mailconsole_id` → times accepted, for exactly-once checks), `connections` (TCP
connections accepted), `max_concurrent` (most requests in flight at once), `health_requests`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_TOKEN = "pm-test-token"
DEFAULT_RULES: dict[str, int] = {"reject.example": 300, "inactive.example": 406}
MAX_BATCH = 500
# The ErrorCode a scripted status carries when the test names none (5xx bodies carry none).
STATUS_CODES = {401: 10, 422: 300, 429: 429}
MESSAGES = {
    10: "The Server Token you provided in the X-Postmark-Server-Token request header was invalid.",
    100: "Postmark is in maintenance, try again later.",
    300: "Invalid email request: the 'To' address is not valid.",
    402: "Received invalid JSON input.",
    406: "You tried to send to recipient(s) that have been marked as inactive.",
    410: "You may not send more than 500 messages in a batch.",
    429: "Rate limit exceeded.",
}


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the fake received it, and what it answered for it."""

    payload: dict[str, Any]
    error_code: int
    message_id: str | None
    request_no: int

    @property
    def mailconsole_id(self) -> str | None:
        meta = self.payload.get("Metadata") or {}
        return meta.get("mailconsole_id")

    @property
    def recipients(self) -> list[str]:
        found: list[str] = []
        for key in ("To", "Cc", "Bcc"):
            found += [a.strip() for a in (self.payload.get(key) or "").split(",") if a.strip()]
        return found


@dataclass
class _Scripted:
    status: int
    error_code: int | None
    message: str | None
    retry_after: float | None
    path: str | None
    remaining: int
    raw_body: bytes | None = None


@dataclass
class _Delay:
    seconds: float
    remaining: int


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    scripted: list[_Scripted] = field(default_factory=list)
    delays: list[_Delay] = field(default_factory=list)
    received: list[ReceivedMessage] = field(default_factory=list)
    requests: int = 0
    health_requests: int = 0
    connections: int = 0
    in_flight: int = 0
    max_concurrent: int = 0


class FakePostmark:
    """Postmark's `/email/batch` and `/server` on 127.0.0.1. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        token: str | None = DEFAULT_TOKEN,
        rules: Mapping[str, int] | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.rules: dict[str, int] = dict(DEFAULT_RULES if rules is None else rules)
        self.latency = latency
        self._host = host
        self._port = port
        self._state = _State()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> FakePostmark:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer((self._host, self._port), handler)
        server.daemon_threads = True
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-postmark", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes any request waiting in a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakePostmark:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakePostmark is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting -----------------------------------------------------------------------------

    def rule(self, domain: str, error_code: int) -> None:
        """Recipients at `domain` get `error_code` (0 removes the rule's effect)."""
        self.rules[domain.lower()] = error_code

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        error_code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        path: str | None = "/email/batch",
    ) -> None:
        with self._state.lock:
            self._state.scripted.append(
                _Scripted(status, error_code, message, retry_after, path, times)
            )

    def bad_json_next(self, times: int = 1) -> None:
        with self._state.lock:
            self._state.scripted.append(
                _Scripted(200, None, None, None, "/email/batch", times, raw_body=b"<html>oops")
            )

    def delay_next(self, seconds: float, times: int = 1) -> None:
        with self._state.lock:
            self._state.delays.append(_Delay(seconds, times))

    def reset(self) -> None:
        """Forget scripted answers and counters (rules and latency stay)."""
        with self._state.lock:
            self._state.scripted.clear()
            self._state.delays.clear()
            self._state.received.clear()
            self._state.requests = self._state.health_requests = 0
            self._state.connections = self._state.max_concurrent = 0

    # --- counters ------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return self._state.requests

    @property
    def health_requests(self) -> int:
        return self._state.health_requests

    @property
    def connections(self) -> int:
        return self._state.connections

    @property
    def max_concurrent(self) -> int:
        return self._state.max_concurrent

    @property
    def received(self) -> list[ReceivedMessage]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def accepted(self) -> list[ReceivedMessage]:
        return [m for m in self.received if m.error_code == 0]

    def accepted_ids(self) -> Counter[str]:
        return Counter(m.mailconsole_id for m in self.accepted if m.mailconsole_id is not None)

    # --- request handling (called from the server's threads) -----------------------------------

    def _take_scripted(self, path: str) -> _Scripted | None:
        with self._state.lock:
            for item in self._state.scripted:
                if item.path is None or item.path == path:
                    item.remaining -= 1
                    if item.remaining <= 0:
                        self._state.scripted.remove(item)
                    return item
        return None

    def _take_delay(self) -> float:
        with self._state.lock:
            if not self._state.delays:
                return 0.0
            item = self._state.delays[0]
            item.remaining -= 1
            if item.remaining <= 0:
                self._state.delays.pop(0)
            return item.seconds

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _answer_for(self, payload: Any) -> int:
        if not isinstance(payload, dict):
            return 402
        if not payload.get("From") or not payload.get("To"):
            return 300
        if not payload.get("TextBody") and not payload.get("HtmlBody"):
            return 300
        recipients = ReceivedMessage(payload, 0, None, 0).recipients
        for address in recipients:
            code = self.rules.get(address.rsplit("@", 1)[-1].lower())
            if code:
                return code
        return 0

    def _handle_batch(self, body: bytes) -> tuple[int, Any]:
        try:
            data = json.loads(body)
        except ValueError:
            return 422, {"ErrorCode": 402, "Message": MESSAGES[402]}
        if not isinstance(data, list):
            return 422, {"ErrorCode": 402, "Message": MESSAGES[402]}
        if len(data) > MAX_BATCH:
            return 422, {"ErrorCode": 410, "Message": MESSAGES[410]}
        answers = []
        with self._state.lock:
            self._state.requests += 1
            request_no = self._state.requests
        now = datetime.now(UTC).isoformat()
        records = []
        for payload in data:
            code = self._answer_for(payload)
            if code == 0:
                mid = str(uuid.uuid4())
                answers.append(
                    {
                        "ErrorCode": 0,
                        "Message": "OK",
                        "MessageID": mid,
                        "SubmittedAt": now,
                        "To": payload.get("To"),
                    }
                )
            else:
                mid = None
                answers.append({"ErrorCode": code, "Message": MESSAGES.get(code, "Rejected.")})
            records.append(
                ReceivedMessage(payload if isinstance(payload, dict) else {}, code, mid, request_no)
            )
        with self._state.lock:
            self._state.received.extend(records)
        return 200, answers


class _Handler(BaseHTTPRequestHandler):
    fake: FakePostmark
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed ACK

    def setup(self) -> None:
        super().setup()
        with self.fake._state.lock:
            self.fake._state.connections += 1

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(raw)
        except OSError:
            pass  # the client gave up (a timeout test)

    def _authorised(self) -> bool:
        token = self.fake.token
        return token is None or self.headers.get("X-Postmark-Server-Token") == token

    def _enter(self) -> None:
        state = self.fake._state
        with state.lock:
            state.in_flight += 1
            state.max_concurrent = max(state.max_concurrent, state.in_flight)

    def _leave(self) -> None:
        with self.fake._state.lock:
            self.fake._state.in_flight -= 1

    def _scripted(self, path: str, body: bytes) -> bool:
        item = self.fake._take_scripted(path)
        if item is None:
            return False
        if item.raw_body is not None:
            # Answer junk, but the messages were taken by the "provider".
            self.fake._handle_batch(body)
            self._send_json(item.status, item.raw_body)
            return True
        code = item.error_code if item.error_code is not None else STATUS_CODES.get(item.status)
        answer: dict[str, Any] = {
            "Message": item.message or MESSAGES.get(code or 0, f"HTTP {item.status}")
        }
        if code is not None:
            answer["ErrorCode"] = code
        headers = {"Retry-After": f"{item.retry_after:g}"} if item.retry_after is not None else None
        self._send_json(item.status, answer, headers)
        return True

    def do_POST(self) -> None:
        self._enter()
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.fake._wait(self.fake.latency)
            if self.path != "/email/batch":
                self._send_json(404, {"ErrorCode": 404, "Message": "Not found."})
                return
            if not self._authorised():
                self._send_json(401, {"ErrorCode": 10, "Message": MESSAGES[10]})
                return
            if self._scripted(self.path, body):
                return
            status, answer = self.fake._handle_batch(body)
            self.fake._wait(self.fake._take_delay())
            self._send_json(status, answer)
        finally:
            self._leave()

    def do_GET(self) -> None:
        self._enter()
        try:
            self.fake._wait(self.fake.latency)
            if self.path != "/server":
                self._send_json(404, {"ErrorCode": 404, "Message": "Not found."})
                return
            with self.fake._state.lock:
                self.fake._state.health_requests += 1
            if not self._authorised():
                self._send_json(401, {"ErrorCode": 10, "Message": MESSAGES[10]})
                return
            if self._scripted(self.path, b""):
                return
            self.fake._wait(self.fake._take_delay())
            self._send_json(200, {"ID": 1, "Name": "fake-postmark", "Color": "blue"})
        finally:
            self._leave()
