"""A fake SMTP relay on 127.0.0.1: aiosmtpd in its own thread and event loop, scriptable.

Scripting:
- `server.reply_for("bad@example.com" | "example.com", 550, text=None)`: RCPT TO for that address
  (or any address at that domain) answers `code text` instead of 250;
- `server.reply_next("mail" | "data", code, text=None, times=1)`: the next MAIL FROM / DATA answers
  `code` (e.g. 421, 452, 554);
- `server.drop_next("mail" | "rcpt" | "data", times=1)`: the next command at that stage gets no
  answer: the connection is aborted (the client sees a dropped connection);
- `FakeSmtp(require_auth=True, username=…, password=…)`: AUTH PLAIN/LOGIN offered (without TLS,
  this is loopback) and required before MAIL;
- `FakeSmtp(starttls=True)` offers STARTTLS, `FakeSmtp(implicit_tls=True)` speaks TLS from the
  first byte; both with a self-signed certificate for `localhost`/127.0.0.1 (`cert_path`);
- `server.latency`: seconds added before each DATA answer (benchmarks).

Counters: `messages` (each `ReceivedSmtp` accepted, in order), `connections` (TCP connections
opened), `open_connections`, `max_open_connections`, `auth_successes`, `auth_failures`,
`mailconsole_ids()` (Counter of `X-Mailconsole-Id` → times received, for exactly-once checks).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import functools
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

DEFAULT_USERNAME = "relay-user"
DEFAULT_PASSWORD = "relay-password"
TEXTS = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.1 Mailbox unavailable, try again later",
    451: "4.3.0 Local error in processing",
    452: "4.5.3 Too many recipients",
    550: "5.1.1 Recipient address rejected: User unknown",
    552: "5.3.4 Message size exceeds fixed limit",
    554: "5.7.1 Message rejected",
}


@dataclass(frozen=True)
class ReceivedSmtp:
    """One message the fake accepted: the envelope, the raw data and which connection carried it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    connection_no: int
    authenticated_as: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Script:
    rcpt_replies: dict[str, tuple[int, str]] = field(default_factory=dict)
    stage_replies: dict[str, list[list[Any]]] = field(
        default_factory=dict
    )  # stage → [[code, text, n]]
    drops: dict[str, int] = field(default_factory=dict)


@functools.cache
def _certificate() -> tuple[str, str]:
    """A self-signed certificate and key for localhost/127.0.0.1, made once per process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="fake-smtp-tls-"))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class FakeSmtp:
    """An SMTP server on 127.0.0.1 that records what it receives. start()/stop() or `with`."""

    def __init__(
        self,
        *,
        require_auth: bool = False,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        starttls: bool = False,
        implicit_tls: bool = False,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.require_auth = require_auth
        self.username = username
        self.password = password
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.latency = latency
        self.host = host
        self.port = port or 0
        self._lock = threading.Lock()
        self._script = _Script()
        self._messages: list[ReceivedSmtp] = []
        self.connections = 0
        self.open_connections = 0
        self.max_open_connections = 0
        self.auth_successes = 0
        self.auth_failures = 0
        self._controller: Controller | None = None

    # --- life cycle ----------------------------------------------------------------------------

    @property
    def cert_path(self) -> str:
        return _certificate()[0]

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*_certificate())
        return context

    def start(self) -> FakeSmtp:
        if not self.port:
            self.port = _free_port(self.host)
        smtp_kwargs: dict[str, Any] = {
            "auth_require_tls": False,
            "authenticator": self._authenticate,
        }
        if self.starttls:
            smtp_kwargs["tls_context"] = self._tls_context()
        controller = _Controller(
            self,
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=self._tls_context() if self.implicit_tls else None,
            ready_timeout=10,
            server_hostname="fake-smtp.test",
            **smtp_kwargs,
        )
        controller.start()
        self._controller = controller
        # aiosmtpd opens one connection of its own to check the server is up: not a client's.
        deadline = time.monotonic() + 5
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.005)
        with self._lock:
            self.connections = self.max_open_connections = 0
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- scripting -----------------------------------------------------------------------------

    def reply_for(self, address_or_domain: str, code: int, text: str | None = None) -> None:
        with self._lock:
            self._script.rcpt_replies[address_or_domain.lower().lstrip("@")] = (
                code,
                text or TEXTS.get(code, "Rejected"),
            )

    def reply_next(self, stage: str, code: int, text: str | None = None, times: int = 1) -> None:
        assert stage in ("mail", "data"), stage
        with self._lock:
            self._script.stage_replies.setdefault(stage, []).append(
                [code, text or TEXTS.get(code, "Rejected"), times]
            )

    def drop_next(self, stage: str, times: int = 1) -> None:
        assert stage in ("mail", "rcpt", "data"), stage
        with self._lock:
            self._script.drops[stage] = self._script.drops.get(stage, 0) + times

    def reset(self) -> None:
        with self._lock:
            self._script = _Script()
            self._messages.clear()
            self.connections = 0
            self.max_open_connections = self.open_connections
            self.auth_successes = self.auth_failures = 0

    # --- counters ------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedSmtp]:
        with self._lock:
            return list(self._messages)

    def mailconsole_ids(self) -> Counter[str]:
        return Counter(
            m.message["X-Mailconsole-Id"] for m in self.messages if m.message["X-Mailconsole-Id"]
        )

    # --- called from the server's loop ---------------------------------------------------------

    def _opened(self) -> int:
        with self._lock:
            self.connections += 1
            self.open_connections += 1
            self.max_open_connections = max(self.max_open_connections, self.open_connections)
            return self.connections

    def _closed(self) -> None:
        with self._lock:
            self.open_connections -= 1

    def _take_drop(self, stage: str) -> bool:
        with self._lock:
            if self._script.drops.get(stage, 0) > 0:
                self._script.drops[stage] -= 1
                return True
            return False

    def _take_reply(self, stage: str) -> str | None:
        with self._lock:
            queue = self._script.stage_replies.get(stage) or []
            if not queue:
                return None
            item = queue[0]
            item[2] -= 1
            if item[2] <= 0:
                queue.pop(0)
            return f"{item[0]} {item[1]}"

    def _rcpt_reply(self, address: str) -> str | None:
        address = address.lower()
        with self._lock:
            found = self._script.rcpt_replies.get(address) or self._script.rcpt_replies.get(
                address.rsplit("@", 1)[-1]
            )
        return f"{found[0]} {found[1]}" if found else None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        with self._lock:
            if ok:
                self.auth_successes += 1
            else:
                self.auth_failures += 1
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _record(self, envelope: Envelope, session: Session, connection_no: int) -> None:
        auth = session.auth_data
        login = (
            auth.login.decode()
            if session.authenticated and isinstance(auth, LoginPassword)
            else None
        )
        received = ReceivedSmtp(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content or b""),  # type: ignore[arg-type]
            connection_no=connection_no,
            authenticated_as=login,
        )
        with self._lock:
            self._messages.append(received)


class _CountingSMTP(SMTP):
    """aiosmtpd's protocol, counting connections for the fake."""

    fake: FakeSmtp
    connection_no: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connection_no = self.fake._opened()
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fake._closed()
        super().connection_lost(exc)


class _Controller(Controller):
    def __init__(self, fake: FakeSmtp, handler: Any, **kwargs: Any) -> None:
        self._fake = fake
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        protocol = _CountingSMTP(self.handler, **self.SMTP_kwargs)
        protocol.fake = self._fake
        return protocol


class _Handler:
    def __init__(self, fake: FakeSmtp) -> None:
        self.fake = fake

    @staticmethod
    def _abort(server: SMTP) -> None:
        if server.transport is not None:
            server.transport.abort()  # type: ignore[attr-defined]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.fake._take_drop("mail"):
            self._abort(server)
            return "421 dropped"
        if self.fake.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        reply = self.fake._take_reply("mail")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.fake._take_drop("rcpt"):
            self._abort(server)
            return "421 dropped"
        reply = self.fake._rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fake.latency:
            await asyncio.sleep(self.fake.latency)
        if self.fake._take_drop("data"):
            self._abort(server)
            return "421 dropped"
        reply = self.fake._take_reply("data")
        if reply:
            return reply
        self.fake._record(envelope, session, getattr(server, "connection_no", 0))
        return "250 2.0.0 Ok: queued"
