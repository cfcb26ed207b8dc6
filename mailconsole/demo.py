"""A demo database with a realistic week of traffic ending now, and live traffic while it runs.

`mailconsole demo` builds one and opens the console on it, so a newcomer sees a live console
with one command. The story it tells (fixed seed, so every run tells the same one):

- ~300,000 messages over 7 days with a daily rhythm (busy afternoons, quiet nights and
  weekends) to a dozen recipient domains, through two sandbox accounts: `sandbox-main`
  (primary) and `sandbox-fallback` (the weekly digest goes through it, and it is the fallback);
- ~2.5 % transient failures (http_429, http_503, timeout) retried with backoff, a few of them
  exhausted into dead letters; ~0.4 % permanent failures (smtp_550, provider_reject with
  `sandbox:406`, whose recipients are suppressed);
- a 40-minute outage of the primary two days ago (an `outage` row, every attempt in the window
  failing with http_503; the early messages ran out of attempts and are dead letters);
- a backlog of a few hundred queued messages, some waiting for a retry in the future;
- a few audit rows; and a sandbox config whose accounts keep failing a little, with a demo job
  that queues fresh messages every few seconds, so the in-process scheduler keeps sending.

Rows are written with SQLAlchemy Core `executemany` in chunks, one transaction per chunk, into
a fresh SQLite file; a run of 300,000 messages takes seconds.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from mailconsole.clock import SYSTEM_CLOCK, Clock
from mailconsole.config import Config, default_data_dir, parse_config
from mailconsole.context import Actor, AppContext
from mailconsole.errors import ValidationError
from mailconsole.store.db import Database
from mailconsole.store.models import (
    AuditEvent,
    BackendState,
    DeliveryAttempt,
    Message,
    MessageBody,
    Outage,
    Setting,
    Suppression,
)
from mailconsole.store.types import UTCDateTime

DEFAULT_MESSAGES = 300_000
DEFAULT_SEED = 7
DAYS = 7
CHUNK = 20_000
DEMO_MARKER = "demo.generated"
PRIMARY, FALLBACK = "sandbox-main", "sandbox-fallback"
FROM_ADDR = "notifications@demo.example"
INACTIVE_DOMAIN = "old-mail.example"
OUTAGE_MINUTES = 40
BACKLOG_WINDOW_MIN = 25  # the backlog was created in the last 25 minutes
HISTORY_END_MIN = 30  # history (finished messages) ends 30 minutes ago

DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 34), ("outlook.com", 14), ("yahoo.com", 11), ("hotmail.com", 7),
    ("icloud.com", 7), ("gmx.de", 4), ("web.de", 3), ("proton.me", 3), ("fastmail.com", 2),
    ("acme-corp.com", 6), ("example.org", 5), ("orange.fr", 3), (INACTIVE_DOMAIN, 0.3),
)  # fmt: skip
TEMPLATES: tuple[tuple[str, str, float], ...] = (
    # tag, subject, weight
    ("password-reset", "Reset your password", 14),
    ("welcome", "Welcome to Acme, {first}!", 10),
    ("verify-email", "Verify your email address", 12),
    ("receipt", "Your receipt #{n}", 20),
    ("shipping", "Your order #{n} has shipped", 16),
    ("invoice", "Invoice {n} is ready", 8),
    ("security", "[Action required] New sign-in to your account", 5),
    ("weekly-digest", "Your weekly digest: 5 things you missed", 10),
    ("comment", "{first} replied to your comment", 5),
)
FIRST = ("ana", "ben", "chloe", "dan", "eva", "femi", "gus", "hana", "ivan", "jo", "kai",
         "lena", "max", "nora", "omar", "pia", "raj", "sara", "tom", "uma", "vic", "yara")  # fmt: skip
LAST = ("smith", "garcia", "muller", "rossi", "kim", "nguyen", "dubois", "silva", "kowalski",
        "okafor", "jensen", "tanaka", "ali", "brown", "costa")  # fmt: skip
TRANSIENT_CODES: tuple[tuple[str, str, float], ...] = (
    ("http_503", "503 Service Unavailable", 5),
    ("http_429", "429 Too Many Requests: rate limit exceeded, retry later", 3),
    ("timeout", "timed out after 30.0s waiting for the provider", 2),
)
PERMANENT: tuple[tuple[str, str | None, str], ...] = (
    ("smtp_550", "smtp:550", "550 5.1.1 <{addr}>: Recipient address rejected: User unknown"),
    ("provider_reject", "sandbox:406", "sandbox: inactive recipient(s): {addr}"),
)
TRANSIENT_RATE = 0.025
PERMANENT_RATE = 0.004


@dataclass(frozen=True)
class DemoResult:
    db_path: Path
    config_path: Path
    messages: int
    attempts: int
    queued: int
    dead: int
    outage_start: datetime
    seconds: float
    seed: int = DEFAULT_SEED


@dataclass
class _Buffers:
    messages: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    suppressions: dict[str, dict[str, Any]] = field(default_factory=dict)


# --- configuration ----------------------------------------------------------------------------


def demo_config_data(db_path: Path, seed: int) -> dict[str, Any]:
    """The demo's config: two sandbox accounts that keep failing a little, live."""
    return {
        "database_url": f"sqlite:///{db_path}",
        "accounts": {
            PRIMARY: {
                "type": "sandbox", "from": FROM_ADDR, "latency_ms": 150,
                "failure_rate": TRANSIENT_RATE, "permanent_rate": 0.002, "seed": seed,
                "inactive_domains": [INACTIVE_DOMAIN], "batch_size": 50,
            },
            FALLBACK: {
                "type": "sandbox", "from": FROM_ADDR, "latency_ms": 250,
                "failure_rate": 0.01, "permanent_rate": 0.002, "seed": seed + 1,
                "inactive_domains": [INACTIVE_DOMAIN], "batch_size": 50,
            },
        },
        "routing": {"primary": PRIMARY, "fallback": FALLBACK},
        "dispatch": {"interval_seconds": 3.0},
        "ui": {"refresh_seconds": 3.0},
    }  # fmt: skip


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def to_toml(data: dict[str, Any]) -> str:
    """Enough TOML for the demo config (tables of scalars and lists)."""
    return "\n".join(_toml_lines(data, "")).strip("\n")


def _toml_lines(data: dict[str, Any], prefix: str) -> list[str]:
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if not isinstance(table, dict):
            continue
        name = f"{prefix}{key}"
        if any(not isinstance(v, dict) for v in table.values()):
            lines += ["", f"[{name}]"]
        lines += _toml_lines(table, f"{name}.")
    return lines


# --- generation -----------------------------------------------------------------------------------


def hourly_weights(start: datetime, hours: int) -> list[float]:
    """Traffic per hour: a daily rhythm peaking mid-afternoon UTC, quieter at weekends."""
    weights = []
    for h in range(hours):
        t = start + timedelta(hours=h)
        day = max(0.0, math.sin(math.pi * (t.hour - 6) / 16)) if 6 <= t.hour <= 22 else 0.0
        weight = 0.12 + day**1.5
        if t.weekday() >= 5:
            weight *= 0.55
        weights.append(weight)
    return weights


def _backoff(ctx_retry: Any, attempt: int, rng: random.Random) -> float:
    base = min(ctx_retry.cap_seconds, ctx_retry.base_seconds * 2 ** (attempt - 1))
    return base * (1 + rng.uniform(-ctx_retry.jitter, ctx_retry.jitter))


class _Generator:
    """Builds rows for one demo database; deterministic under its seed."""

    def __init__(self, config: Config, now: datetime, seed: int) -> None:
        self.cfg = config
        self.now = now
        self.rng = random.Random(seed)
        self.retry = config.retry
        self.domains = [d for d, _ in DOMAINS]
        self.domain_weights = [w for _, w in DOMAINS]
        self.templates = TEMPLATES
        self.template_weights = [w for _, _, w in TEMPLATES]
        self.codes = TRANSIENT_CODES
        self.code_weights = [w for _, _, w in TRANSIENT_CODES]
        day2 = (now - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        self.outage_start = day2.replace(hour=14) + timedelta(minutes=12)
        self.outage_end = self.outage_start + timedelta(minutes=OUTAGE_MINUTES)
        self.outage_failures = 0
        self.first_outage_error: str | None = None

    def address(self) -> tuple[str, str, str]:
        rng = self.rng
        first = rng.choice(FIRST)
        domain = rng.choices(self.domains, self.domain_weights)[0]
        addr = f"{first}.{rng.choice(LAST)}{rng.randint(1, 999)}@{domain}"
        return first, addr, domain

    def content(self, first: str) -> tuple[str, str]:
        tag, subject, _ = self.rng.choices(self.templates, self.template_weights)[0]
        return tag, subject.format(first=first.title(), n=self.rng.randint(10000, 99999))

    def message(self, mid: int, created: datetime, buf: _Buffers, *, queued: bool) -> int:
        """One message with its attempts; returns how many attempt rows it added."""
        rng = self.rng
        first, addr, domain = self.address()
        tag, subject = self.content(first)
        backend = FALLBACK if tag == "weekly-digest" else PRIMARY
        row: dict[str, Any] = {
            "id": mid, "created_at": created, "updated_at": created, "status": "queued",
            "account": FALLBACK if backend == FALLBACK else None, "backend": None,
            "stream": "outbound", "tag": tag, "from_addr": FROM_ADDR, "to_addrs": addr,
            "cc_addrs": None, "bcc_addrs": None, "reply_to": None, "subject": subject,
            "recipient_domain": domain, "size_bytes": 900 + rng.randint(0, 6000),
            "attempts": 0, "next_attempt_at": created, "lease_owner": None,
            "lease_expires_at": None, "sent_at": None, "last_error_code": None,
            "last_provider_code": None, "last_error": None, "provider_message_id": None,
            "replay_of": None,
        }  # fmt: skip
        buf.bodies.append(
            {
                "message_id": mid,
                "text_body": f"Hi {first.title()},\n\n{subject}.\n\n— The Acme team",
            }
        )
        added = self._history(row, addr, backend, buf) if not queued else self._queued(row, buf)
        buf.messages.append(row)
        return added

    def _attempt(
        self, buf: _Buffers, row: dict[str, Any], backend: str, at: datetime, outcome: str,
        code: str | None = None, pcode: str | None = None, error: str | None = None,
    ) -> datetime:  # fmt: skip
        duration = (
            self.rng.uniform(40, 420)
            if outcome == "sent"
            else self.rng.uniform(5, 30_000 if code == "timeout" else 900)
        )
        row["attempts"] += 1
        pmid = f"sbx-{row['id']:08x}-{row['attempts']}" if outcome == "sent" else None
        buf.attempts.append(
            {
                "message_id": row["id"], "attempt_no": row["attempts"], "backend": backend,
                "started_at": at, "duration_ms": round(duration, 1), "outcome": outcome,
                "error_code": code, "provider_code": pcode, "error_message": error,
                "provider_message_id": pmid,
            }
        )  # fmt: skip
        row["backend"] = backend
        end = at + timedelta(milliseconds=duration)
        row["updated_at"] = end
        if outcome == "sent":
            row.update(status="sent", sent_at=end, provider_message_id=pmid, next_attempt_at=None)
        elif code is not None:
            row.update(last_error_code=code, last_provider_code=pcode, last_error=error)
        return end

    def _in_outage(self, backend: str, at: datetime) -> bool:
        return backend == PRIMARY and self.outage_start <= at < self.outage_end

    def _history(self, row: dict[str, Any], addr: str, backend: str, buf: _Buffers) -> int:
        rng = self.rng
        at = row["created_at"] + timedelta(seconds=rng.uniform(0.5, 4))
        before = len(buf.attempts)
        draw = rng.random()
        planned_failures = 0
        if draw < PERMANENT_RATE or row["recipient_domain"] == INACTIVE_DOMAIN:
            code, pcode, text = (
                PERMANENT[1]
                if row["recipient_domain"] == INACTIVE_DOMAIN
                else rng.choice(PERMANENT)
            )
            self._attempt(buf, row, backend, at, "permanent", code, pcode, text.format(addr=addr))
            row.update(status="dead", next_attempt_at=None)
            if pcode == "sandbox:406":
                buf.suppressions[addr] = {
                    "address": addr, "reason": "inactive", "source": backend,
                    "detail": "provider reported the recipient inactive", "message_id": row["id"],
                    "created_at": row["updated_at"],
                }  # fmt: skip
            return len(buf.attempts) - before
        if draw < PERMANENT_RATE + TRANSIENT_RATE:
            planned_failures = rng.choices((1, 2, 3, 5), (70, 20, 8, 2))[0]
        max_attempts = self.retry.max_attempts
        while True:
            if self._in_outage(backend, at):
                error = "sandbox: 503 Service Unavailable (upstream maintenance)"
                self.outage_failures += 1
                self.first_outage_error = self.first_outage_error or error
                end = self._attempt(
                    buf, row, backend, at, "transient", "http_503", "sandbox:outage", error
                )
            elif planned_failures > 0:
                code, text, _ = rng.choices(self.codes, self.code_weights)[0]
                planned_failures -= 1
                end = self._attempt(
                    buf, row, backend, at, "transient", code, "sandbox:simulated", text
                )
            else:
                self._attempt(buf, row, backend, at, "sent")
                return len(buf.attempts) - before
            if row["attempts"] >= max_attempts:
                row.update(status="dead", next_attempt_at=None)
                return len(buf.attempts) - before
            at = end + timedelta(seconds=_backoff(self.retry, row["attempts"], rng))

    def _queued(self, row: dict[str, Any], buf: _Buffers) -> int:
        """A backlog message: waiting for its first try, or for a retry after a 429/503."""
        rng = self.rng
        before = len(buf.attempts)
        if rng.random() < 0.35:
            tries = rng.choice((1, 1, 2, 3))
            at = row["created_at"] + timedelta(seconds=rng.uniform(0.5, 3))
            for _ in range(tries):
                code, text, _ = rng.choices(self.codes, self.code_weights)[0]
                end = self._attempt(
                    buf, row, PRIMARY, at, "transient", code, "sandbox:simulated", text
                )
                at = end + timedelta(seconds=_backoff(self.retry, row["attempts"], rng))
            # Some are due now; most wait for a retry a few minutes from now.
            row["next_attempt_at"] = self.now + timedelta(seconds=rng.uniform(-30, 900))
            row["status"] = "queued"
        else:
            row["next_attempt_at"] = row["created_at"]
        return len(buf.attempts) - before


def _timestamps(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    hours = int((end - start).total_seconds() // 3600) + 1
    weights = hourly_weights(start, hours)
    span = (end - start).total_seconds()
    out = []
    picks = rng.choices(range(hours), weights, k=count)
    for h in picks:
        offset = min(span - 1, h * 3600 + rng.uniform(0, 3600))
        out.append(start + timedelta(seconds=offset))
    out.sort()
    return out


def _audit_rows(now: datetime, outage_start: datetime) -> list[dict[str, Any]]:
    def row(at: datetime, actor: str, action: str, target: Any, count: Any, reason: Any,
            outcome: str = "ok", detail: Any = None, interface: str = "console") -> dict[str, Any]:  # fmt: skip
        return {
            "at": at, "actor": actor, "ssh_client": "10.20.0.14", "interface": interface,
            "action": action, "target": target, "count": count, "reason": reason,
            "outcome": outcome, "detail": detail,
        }  # fmt: skip

    return [
        row(now - timedelta(days=5, hours=3), "alice", "pause", {"backend": "*"}, 1,
            "provider maintenance window"),
        row(now - timedelta(days=5, hours=2, minutes=40), "alice", "resume", {"backend": "*"}, 1,
            "maintenance over"),
        row(outage_start + timedelta(minutes=9), "bob", "pause", {"backend": PRIMARY}, 0,
            "sandbox-main returns 503s", "refused",
            "pause refused: mailconsole is in read-only mode (started with --read-only or "
            "read_only = true in the config)"),
        row(now - timedelta(days=1, hours=6), "carol", "suppress", {"address": "chargeback@acme-corp.com"}, 1,
            "customer asked to stop all email", interface="cli"),
        row(now - timedelta(hours=20), "dave", "export", {"filter": {"statuses": ["dead"]}, "format": "csv"},
            412, "incident review", interface="cli"),
    ]  # fmt: skip


def _write(conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """A few rows through the ORM table's insert (type processing included)."""
    if rows:
        conn.execute(insert(model.__table__), rows)


def _write_bulk(conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """Many rows as one executemany of plain tuples (SQLite only).

    Times are written as the exact text SQLAlchemy's SQLite DATETIME (so UTCDateTime) stores —
    naive UTC with microseconds, so string order is time order; every time here is aware UTC.
    """
    if not rows:
        return
    columns = list(rows[0])
    table = model.__table__
    times = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    getter = itemgetter(*columns)
    values = []
    for row in rows:
        value = list(getter(row))
        for i in times:
            if value[i] is not None:
                value[i] = value[i].isoformat(" ", "microseconds")[:26]
        values.append(tuple(value))
    placeholders = ", ".join("?" * len(columns))
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", values
    )


def build_demo(
    db_path: Path,
    *,
    messages: int = DEFAULT_MESSAGES,
    seed: int = DEFAULT_SEED,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Create a fresh demo database at `db_path` (replacing an earlier demo only)."""
    if messages < 100:
        raise ValidationError("a demo needs at least 100 messages: use --messages 100 or more")
    started = time.monotonic()
    db_path = db_path.expanduser().resolve()
    _replace_earlier_demo(db_path)
    config_path = db_path.with_suffix(".toml")
    config = parse_config(demo_config_data(db_path, seed), source=str(config_path))
    now = clock.now()
    db = Database(f"sqlite:///{db_path}")
    try:
        db.upgrade()
        with db.write_engine.begin() as conn:  # first, so a half-built demo can be replaced
            _write(conn, Setting, [
                {"key": DEMO_MARKER, "value": {"seed": seed, "messages": messages,
                 "at": now.isoformat()}, "updated_at": now, "updated_by": "demo"},
            ])  # fmt: skip
        gen = _Generator(config, now, seed)
        backlog = max(20, min(400, messages // 800))
        history = messages - backlog
        start = now - timedelta(days=DAYS)
        hist_times = _timestamps(gen.rng, start, now - timedelta(minutes=HISTORY_END_MIN), history)
        queue_times = sorted(
            now - timedelta(seconds=gen.rng.uniform(5, BACKLOG_WINDOW_MIN * 60))
            for _ in range(backlog)
        )
        times = [(t, False) for t in hist_times] + [(t, True) for t in queue_times]
        total_attempts = dead = 0
        suppressions: dict[str, dict[str, Any]] = {}
        for offset in range(0, len(times), CHUNK):
            buf = _Buffers()
            for i, (created, queued) in enumerate(times[offset : offset + CHUNK], start=offset + 1):
                total_attempts += gen.message(i, created, buf, queued=queued)
            dead += sum(1 for m in buf.messages if m["status"] == "dead")
            for addr, sup in buf.suppressions.items():
                suppressions.setdefault(addr, sup)
            with db.write_engine.begin() as conn:
                _write_bulk(conn, Message, buf.messages)
                _write_bulk(conn, MessageBody, buf.bodies)
                _write_bulk(conn, DeliveryAttempt, buf.attempts)
            if progress is not None:
                progress(min(offset + CHUNK, len(times)), len(times))
        with db.write_engine.begin() as conn:
            _write(conn, Suppression, list(suppressions.values()))
            _write(conn, Outage, [{
                "backend": PRIMARY, "kind": "transient", "started_at": gen.outage_start,
                "ended_at": gen.outage_end, "first_error_code": "http_503",
                "first_error": gen.first_outage_error or "sandbox: 503 Service Unavailable",
                "last_error_code": "http_503", "last_error_at": gen.outage_end - timedelta(seconds=20),
                "failure_count": gen.outage_failures,
            }])  # fmt: skip
            _write(conn, BackendState, [
                {"backend": name, "paused": False, "circuit": "closed", "consecutive_failures": 0,
                 "last_success_at": now - timedelta(minutes=HISTORY_END_MIN), "updated_at": now}
                for name in (PRIMARY, FALLBACK)
            ])  # fmt: skip
            _write(conn, AuditEvent, _audit_rows(now, gen.outage_start))

        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("ANALYZE")
    finally:
        db.dispose()
    config_path.write_text(
        "# mailconsole demo configuration: reopen with  mailconsole --config "
        f"{config_path}\n" + to_toml(demo_config_data(db_path, seed)) + "\n",
        encoding="utf-8",
    )
    return DemoResult(
        db_path=db_path,
        config_path=config_path,
        messages=len(times),
        attempts=total_attempts,
        queued=backlog,
        dead=dead,
        outage_start=gen.outage_start,
        seconds=time.monotonic() - started,
        seed=seed,
    )


def _replace_earlier_demo(db_path: Path) -> None:
    """Remove a previous demo database; refuse to touch any other file."""
    if not db_path.exists():
        db_path.parent.mkdir(parents=True, exist_ok=True)
        return
    is_demo = False
    try:
        db = Database(f"sqlite:///{db_path}")
        try:
            with db.engine.connect() as conn:
                is_demo = (
                    conn.execute(select(Setting.value).where(Setting.key == DEMO_MARKER)).first()
                    is not None
                )
        finally:
            db.dispose()
    except Exception:
        is_demo = False
    if not is_demo:
        raise ValidationError(
            f"{db_path} exists and is not a mailconsole demo database: choose another --db path"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def default_demo_path() -> Path:
    return default_data_dir() / "demo" / "demo.db"


def demo_context(result: DemoResult, *, clock: Clock = SYSTEM_CLOCK) -> AppContext:
    """The context the console runs on: the demo config and database, the user as the actor."""
    config = parse_config(
        demo_config_data(result.db_path, result.seed), source=str(result.config_path)
    )
    db = Database(f"sqlite:///{result.db_path}")
    db.check_schema(create_if_empty=False)
    return AppContext(config=config, db=db, clock=clock, actor=Actor.from_environment("console"))


# --- live traffic -------------------------------------------------------------------------------

LIVE_JOB = "demo_traffic"
LIVE_INTERVAL_S = 4.0


def live_messages(rng: random.Random, count: int) -> Iterator[dict[str, Any]]:
    gen_domains = [d for d, _ in DOMAINS]
    weights = [w for _, w in DOMAINS]
    for _ in range(count):
        first = rng.choice(FIRST)
        domain = rng.choices(gen_domains, weights)[0]
        tag, subject, _ = rng.choices(TEMPLATES, [w for _, _, w in TEMPLATES])[0]
        yield {
            "to": f"{first}.{rng.choice(LAST)}{rng.randint(1, 999)}@{domain}",
            "subject": subject.format(first=first.title(), n=rng.randint(10000, 99999)),
            "text": f"Hi {first.title()},\n\n(live demo traffic)\n",
            "tag": tag,
            "backend": FALLBACK if tag == "weekly-digest" else None,
            "stream": "outbound",
        }


def make_live_job(seed: int) -> Callable[[AppContext], dict[str, Any]]:
    """A scheduler job that queues a handful of new messages, so the demo keeps sending."""
    rng = random.Random(seed * 7919)

    def demo_traffic(ctx: AppContext) -> dict[str, Any]:
        from mailconsole.engine.enqueue import build_message, insert_messages

        hour = ctx.clock.now().hour
        base = 4 + int(10 * max(0.0, math.sin(math.pi * (hour - 6) / 16)))
        count = rng.randint(base // 2, base)
        ids = insert_messages(ctx, [build_message(ctx, m) for m in live_messages(rng, count)])
        return {"queued": len(ids)}

    return demo_traffic


def demo_scheduler_factory(seed: int) -> Callable[[AppContext], Any]:
    def factory(ctx: AppContext) -> Any:
        from mailconsole.engine.scheduler import EngineScheduler, JobSpec

        return EngineScheduler(
            ctx, jobs=[JobSpec(name=LIVE_JOB, func=make_live_job(seed), seconds=LIVE_INTERVAL_S)]
        )

    return factory


def print_progress(done: int, total: int) -> None:
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\rgenerating demo traffic: {done:,}/{total:,} messages{end}")
    sys.stderr.flush()


__all__ = [
    "DEFAULT_MESSAGES",
    "DemoResult",
    "build_demo",
    "default_demo_path",
    "demo_context",
    "demo_scheduler_factory",
    "make_live_job",
]
