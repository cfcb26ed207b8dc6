"""The benchmark data: generated with a fixed seed, loaded fast, cached under `bench/data/`.

Two kinds of store are built:

- **the incident dataset** (`dataset_db`): `messages` messages over the last 30 days and
  `attempts` delivery attempts, as the engine would have left them mid-incident — the newest
  `queued` messages are the backlog of an open Postmark outage (1–4 failed tries each), `dead`
  dead letters (80 % after 5 transient failures, 20 % rejected at once), the rest sent or
  delivered after 1–5 tries (the tries are spread so the attempt count is exact), a few bounced,
  suppressed and cancelled; 4 % of the messages went through the SMTP fallback. Recipient
  domains: gmail.com 55 %, yahoo.com 10 %, outlook.com 10 %, 200 company domains for the rest.
- **a queue** (`queue_db`): `n` freshly queued messages, nothing else (the worker-memory figure).

The fast loader writes exactly the columns and value formats the engine writes (checked against
`mailconsole enqueue` and the dispatcher: timestamps as naive UTC `YYYY-MM-DD HH:MM:SS.ffffff` on
SQLite, JSON `null` for empty headers), with Python's `sqlite3` `executemany` in one transaction:
the schema is created by the project's own migration, its indexes on the three big tables are
dropped, the rows inserted in id order, and the same `CREATE INDEX` statements run again. The
`attempt_hourly` triggers (migration 0002) are dropped for the load too, then the rollup is filled
by the migration's own backfill and the triggers are recreated by the migration's own SQL. SQLite
is not ANALYZEd (the application never does). PostgreSQL gets the same rows read back from the
SQLite file with COPY, the migration's indexes, rollup and triggers rebuilt the same way, and
`ANALYZE` (autovacuum would do it).

A dataset is cached in `bench/data/<name>-<key>/` where the key hashes the generator version,
seed, sizes and the migration; its timestamps are anchored at generation time, so a cache older
than `MAX_AGE_S` is rebuilt (the 24 h windows of the Dashboard must hold 24 h of data).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import SEED, Sizes, log

GENERATOR_VERSION = 4  # 4: attempt_hourly filled by the migration's backfill after the load
MAX_AGE_S = 3 * 3600
SPAN = timedelta(days=30)
BIG_TABLES = ("message", "message_body", "delivery_attempt")
CHUNK = 20_000

PRIMARY = "postmark-main"
FALLBACK = "smtp-backup"
FROM_ADDR = "orders@shop.example"
DOMAINS = [("gmail.com", 55), ("yahoo.com", 10), ("outlook.com", 10)]
COMPANY_DOMAINS = [f"corp{i:03d}.example" for i in range(200)]
TAGS = ["receipt", "password-reset", "welcome", "shipping", "digest", None]
SUBJECTS = [
    "Your order #{n} has shipped",
    "Receipt for order #{n}",
    "Reset your password",
    "Welcome to Shop, {name}",
    "Your weekly digest #{n}",
    "Action needed: confirm your email",
]
BODY = (
    "Hello {name},\n\nThank you for your order #{n}. We are getting it ready and will send you "
    "another email with the tracking number as soon as it leaves our warehouse. You can see "
    "the status of every order in your account at any time.\n\nIf you did not place this "
    "order, reply to this email and our support team will look into it within one business "
    "day.\n\nKind regards,\nThe Shop team\n"
)
TRANSIENT = [
    ("http_503", None, "postmark: HTTP 503: Service Unavailable", 60),
    ("http_429", "postmark:429", "postmark: HTTP 429: Rate limit exceeded.", 25),
    ("timeout", None, "postmark: timed out after 30 s (ReadTimeout)", 15),
]
PERMANENT = [
    ("provider_reject", "postmark:406", "postmark: You tried to send to recipient(s) that have "
     "been marked as inactive.", 60),
    ("provider_reject", "postmark:300", "postmark: Invalid email request: the 'To' address is "
     "not valid.", 40),
]  # fmt: skip

MESSAGE_COLUMNS = (
    "id", "created_at", "updated_at", "status", "account", "backend", "stream", "tag",
    "from_addr", "to_addrs", "cc_addrs", "bcc_addrs", "reply_to", "subject", "recipient_domain",
    "size_bytes", "attempts", "next_attempt_at", "lease_owner", "lease_expires_at", "sent_at",
    "last_error_code", "last_provider_code", "last_error", "provider_message_id", "replay_of",
)  # fmt: skip
BODY_COLUMNS = (
    "message_id", "text_body", "html_body", "headers", "template_id", "template_data",
)  # fmt: skip
ATTEMPT_COLUMNS = (
    "id", "message_id", "attempt_no", "backend", "started_at", "duration_ms", "outcome",
    "error_code", "provider_code", "error_message", "provider_message_id",
)  # fmt: skip
COLUMNS = {"message": MESSAGE_COLUMNS, "message_body": BODY_COLUMNS,
           "delivery_attempt": ATTEMPT_COLUMNS}  # fmt: skip

_EPOCH = datetime(1970, 1, 1)


def ts(us: int) -> str:
    """Microseconds since the epoch → the text SQLAlchemy stores for a UTCDateTime on SQLite."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat(sep=" ", timespec="microseconds")


def to_us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def _weighted(rng: random.Random, table: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    return rng.choices(table, weights=[row[-1] for row in table])[0]


def _domain_picker(rng: random.Random) -> Any:
    names = [d for d, _ in DOMAINS] + COMPANY_DOMAINS
    rest = 100 - sum(w for _, w in DOMAINS)
    weights = [w for _, w in DOMAINS] + [rest / len(COMPANY_DOMAINS)] * len(COMPANY_DOMAINS)
    cum = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)

    def pick() -> str:
        return rng.choices(names, cum_weights=cum)[0]

    return pick


def backoff_s(attempt: int) -> float:
    """The engine's default backoff (base 60 s, cap 1 h) without jitter."""
    return min(60.0 * 2 ** (attempt - 1), 3600.0)


# --- the incident dataset ---------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    statuses: list[str]
    tries: list[int]


def plan_dataset(sizes: Sizes, rng: random.Random) -> Plan:
    """Status and number of tries of every message, so the attempt total is exact."""
    n = sizes.messages
    older = n - sizes.queued
    counts = {
        "dead": sizes.dead,
        "bounced": n // 100,
        "suppressed": n // 200,
        "cancelled": n // 200,
        "sent": n * 18 // 100,
    }
    counts["delivered"] = older - sum(counts.values())
    statuses = [s for s, c in counts.items() for _ in range(c)]
    rng.shuffle(statuses)
    statuses += ["queued"] * sizes.queued
    tries = [0] * n
    fill: list[int] = []
    for i, status in enumerate(statuses):
        if status == "queued":
            tries[i] = rng.randint(1, 4)
        elif status == "dead":
            tries[i] = 5 if rng.random() < 0.8 else 1
        elif status == "bounced":
            tries[i] = 1
        elif status in ("sent", "delivered"):
            fill.append(i)
    left = sizes.attempts - sum(tries)
    if fill:
        base, extra = divmod(max(left, len(fill)), len(fill))
        base = min(base, 5)
        for i in fill:
            tries[i] = base
        for i in rng.sample(fill, min(extra, len(fill))) if base < 5 else []:
            tries[i] += 1
    return Plan(statuses, tries)


def generate_dataset(
    sizes: Sizes, anchor: datetime, seed: int = SEED
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """(messages, bodies, attempts) chunks in id order; attempt ids follow their start times."""
    rng = random.Random(seed)
    plan = plan_dataset(sizes, rng)
    pick_domain = _domain_picker(rng)
    n = sizes.messages
    end_us = to_us(anchor) - 60_000_000
    start_us = end_us - int(SPAN.total_seconds() * 1_000_000)
    step = (end_us - start_us) // n
    pending: list[tuple[int, int, tuple[Any, ...]]] = []  # (started_us, seq, attempt w/o id)
    seq = 0
    attempt_id = 0
    msgs: list[tuple[Any, ...]] = []
    bodies: list[tuple[Any, ...]] = []
    attempts: list[tuple[Any, ...]] = []
    for i in range(n):
        mid = i + 1
        created = start_us + i * step + rng.randrange(step)
        while pending and pending[0][0] < created:
            started, _, row = heapq.heappop(pending)
            attempt_id += 1
            attempts.append((attempt_id, *row))
        status = plan.statuses[i]
        k = plan.tries[i]
        domain = pick_domain()
        name = f"user{rng.randrange(10_000_000)}"
        to = f"{name}@{domain}"
        subject = rng.choice(SUBJECTS).format(n=mid, name=name)
        text = BODY.format(name=name, n=mid)
        tag = rng.choice(TAGS)
        backend = PRIMARY if rng.random() < 0.96 else FALLBACK
        account = PRIMARY if rng.random() < 0.05 else None
        t = created + rng.randrange(200_000, 2_000_000)
        last_code = last_pcode = last_err = pmid = None
        last_at = created
        for a in range(1, k + 1):
            final = a == k
            if status in ("sent", "delivered", "bounced") and final:
                outcome, code, pcode, err = "sent", None, None, None
                pmid = f"{rng.getrandbits(128):032x}"
                pm = pmid
            elif status == "dead" and k == 1:
                outcome = "permanent"
                code, pcode, err, _ = _weighted(rng, PERMANENT)
                pm = None
            else:
                outcome = "transient"
                code, pcode, err, _ = _weighted(rng, TRANSIENT)
                pm = None
            started = min(t, end_us)
            duration = round(rng.uniform(20.0, 400.0), 1)
            seq += 1
            heapq.heappush(
                pending,
                (started, seq,
                 (mid, a, backend, ts(started), duration, outcome, code, pcode, err, pm)),
            )  # fmt: skip
            if outcome != "sent":
                last_code, last_pcode, last_err = code, pcode, err
            last_at = started
            t = started + int(backoff_s(a) * 1_000_000) + rng.randrange(1_000_000)
        sent_at = ts(last_at) if status in ("sent", "delivered", "bounced") else None
        if status == "queued":
            next_at = ts(min(t, end_us + 3_600_000_000))
        elif k:
            next_at = ts(last_at)
        else:
            next_at = ts(created)
        updated = ts(last_at + 1000 if k else created)
        size = len(subject) + len(to) + len(text)
        msgs.append(
            (mid, ts(created), updated, status, account, backend if k else None, None, tag,
             FROM_ADDR, to, None, None, None, subject, domain, size, k, next_at, None, None,
             sent_at, last_code, last_pcode, last_err, pmid, None)
        )  # fmt: skip
        bodies.append((mid, text, None, "null", None, "null"))
        if len(msgs) >= CHUNK:
            yield msgs, bodies, attempts
            msgs, bodies, attempts = [], [], []
    while pending:
        started, _, row = heapq.heappop(pending)
        attempt_id += 1
        attempts.append((attempt_id, *row))
    yield msgs, bodies, attempts


def generate_queue(
    n: int, anchor: datetime, seed: int = SEED
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """`n` queued messages created over the last hour, due now, no attempts."""
    rng = random.Random(seed + n)
    pick_domain = _domain_picker(rng)
    end_us = to_us(anchor) - 1_000_000
    step = max(1, 3_600_000_000 // max(n, 1))
    start_us = end_us - step * n
    msgs, bodies = [], []
    for i in range(n):
        mid = i + 1
        created = ts(start_us + i * step)
        name = f"user{rng.randrange(10_000_000)}"
        domain = pick_domain()
        to = f"{name}@{domain}"
        subject = rng.choice(SUBJECTS).format(n=mid, name=name)
        text = BODY.format(name=name, n=mid)
        msgs.append(
            (mid, created, created, "queued", None, None, None, rng.choice(TAGS), FROM_ADDR, to,
             None, None, None, subject, domain, len(subject) + len(to) + len(text), 0, created,
             None, None, None, None, None, None, None, None)
        )  # fmt: skip
        bodies.append((mid, text, None, "null", None, "null"))
        if len(msgs) >= CHUNK:
            yield msgs, bodies, []
            msgs, bodies = [], []
    yield msgs, bodies, []


# --- loading -----------------------------------------------------------------------------------


def empty_store(path: Path) -> Path:
    """A store with the current schema and no rows, built afresh for each run of a figure.

    Never reused across runs: a template kept from before a migration would measure the old
    indexes and triggers.
    """
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    create_schema(f"sqlite:///{path}")
    return path


def create_schema(url: str) -> None:
    """The project's own migration, exactly as `mailconsole db upgrade` runs it."""
    from mailconsole.store.db import Database

    db = Database(url)
    db.upgrade()
    db.dispose()


def rollup_migration() -> Any:
    """Migration 0002's module: its trigger and backfill SQL, so the loader runs exactly that."""
    from alembic.script import ScriptDirectory

    from mailconsole.store.db import MIGRATIONS_DIR

    revision = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision("0002")
    assert revision is not None
    return revision.module


def _insert_sql(table: str) -> str:
    cols = COLUMNS[table]
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def load_sqlite(path: Path, chunks: Iterator[Any], extras: bool = True) -> int:
    """Create the schema at `path` and bulk-load the chunks; returns the number of messages."""
    if path.exists():
        path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    create_schema(f"sqlite:///{path}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({', '.join('?' * len(BIG_TABLES))})",
        BIG_TABLES,
    ).fetchall()
    rollup = rollup_migration()
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    # One UPSERT per attempt would triple the load: the rollup is filled once at the end instead.
    for sql in rollup.drop_trigger_sql("sqlite"):
        conn.execute(sql)
    total = 0
    for msgs, bodies, attempts in chunks:
        conn.executemany(_insert_sql("message"), msgs)
        conn.executemany(_insert_sql("message_body"), bodies)
        if attempts:
            conn.executemany(_insert_sql("delivery_attempt"), attempts)
        total += len(msgs)
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute(rollup.backfill_sql("sqlite"))
    for sql in rollup.create_trigger_sql("sqlite"):
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    if extras:
        add_incident_state(f"sqlite:///{path}")
    return total


def add_incident_state(url: str) -> None:
    """Outages, backend states and suppressions that go with the incident dataset."""
    from mailconsole.store.db import Database
    from mailconsole.store.models import BackendState, Outage, Suppression

    rng = random.Random(SEED + 1)
    db = Database(url)
    anchor = _anchor_of(db)
    with db.writing() as s:
        for i in range(24):
            started = anchor - timedelta(days=30) + timedelta(days=i * 1.2, hours=rng.random())
            s.add(
                Outage(
                    backend=PRIMARY if i % 4 else FALLBACK,
                    kind="transient",
                    started_at=started,
                    ended_at=started + timedelta(minutes=rng.randint(3, 90)),
                    first_error_code="http_503",
                    first_error="postmark: HTTP 503: Service Unavailable",
                    last_error_code="http_503",
                    last_error_at=started + timedelta(minutes=2),
                    failure_count=rng.randint(3, 200),
                )
            )
        s.add(
            Outage(
                backend=PRIMARY,
                kind="transient",
                started_at=anchor - timedelta(days=3),
                first_error_code="http_503",
                first_error="postmark: HTTP 503: Service Unavailable",
                last_error_code="http_503",
                last_error_at=anchor - timedelta(minutes=1),
                failure_count=250_000,
            )
        )
        s.add(
            BackendState(
                backend=PRIMARY,
                circuit="open",
                circuit_kind="transient",
                circuit_reason="postmark: HTTP 503: Service Unavailable",
                circuit_error_code="http_503",
                circuit_opened_at=anchor - timedelta(days=3),
                health_ok=False,
                health_detail="postmark: HTTP 503: Service Unavailable",
                health_checked_at=anchor - timedelta(minutes=2),
            )
        )
        s.add(BackendState(backend=FALLBACK, health_ok=True, health_checked_at=anchor))
        for i in range(2000):
            s.add(
                Suppression(
                    address=f"inactive{i}@gmail.com",
                    reason="inactive",
                    source=PRIMARY,
                    created_at=anchor - timedelta(days=rng.randint(1, 30)),
                )
            )
    db.dispose()


def _anchor_of(db: Any) -> datetime:
    from sqlalchemy import text

    with db.engine.connect() as conn:
        value = conn.execute(text("SELECT max(created_at) FROM message")).scalar()
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)) + timedelta(minutes=1)


def load_postgres(sqlite_path: Path, url: str) -> None:
    """Copy the SQLite dataset into a fresh PostgreSQL database at `url` (schema by migration)."""
    import psycopg

    create_schema(url)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    src = sqlite3.connect(sqlite_path)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT LIKE '%%pkey'",
            (list(BIG_TABLES),),
        ).fetchall()
        for name, _ in rows:
            conn.execute(f'DROP INDEX "{name}"')
        rollup = rollup_migration()
        for sql in rollup.drop_trigger_sql("postgresql"):
            conn.execute(sql)
        for table in (*BIG_TABLES, "outage", "backend_state", "suppression"):
            cols = COLUMNS.get(table) or [
                r[1] for r in src.execute(f"PRAGMA table_info({table})").fetchall()
            ]
            types = {r[1]: r[2] for r in src.execute(f"PRAGMA table_info({table})").fetchall()}
            bools = [i for i, c in enumerate(cols) if types.get(c) == "BOOLEAN"]
            copy_sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN"
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in src.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY 1"):
                    if bools:
                        row = list(row)
                        for i in bools:
                            row[i] = None if row[i] is None else bool(row[i])
                    copy.write_row(row)
        for _, sql in rows:
            conn.execute(sql)
        conn.execute(rollup.backfill_sql("postgresql"))
        for sql in rollup.create_trigger_sql("postgresql"):
            conn.execute(sql)
        for table in ("message", "delivery_attempt", "outage"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        conn.execute("VACUUM ANALYZE")
    src.close()


# --- the cache -------------------------------------------------------------------------------


def _migration_hash() -> str:
    from mailconsole.store.db import MIGRATIONS_DIR

    h = hashlib.sha256()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def cache_key(kind: str, *parts: Any, schema: bool = True) -> str:
    """The cache key of a build: generator version, seed, sizes, and the migration (for stores)."""
    raw = json.dumps([GENERATOR_VERSION, SEED, kind, *parts, _migration_hash() if schema else ""])
    return hashlib.sha256(raw.encode()).hexdigest()[:10]


def _fresh(meta_path: Path, key: str) -> dict[str, Any] | None:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or time.time() - meta.get("generated_at", 0) > MAX_AGE_S:
        return None
    return meta


def _drop_stale(data_dir: Path, prefix: str) -> None:
    """Remove every cached build of this kind and size (older keys included): ~2 GB each."""
    for old in data_dir.glob(prefix + "*"):
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def dataset_db(data_dir: Path, sizes: Sizes, *, fresh: bool = False) -> tuple[Path, datetime]:
    """The incident dataset's SQLite file (built or reused) and its anchor time."""
    key = cache_key("dataset", sizes.messages, sizes.attempts, sizes.dead, sizes.queued)
    folder = data_dir / f"dataset-{sizes.messages}-{key}"
    meta_path = folder / "meta.json"
    path = folder / "mailconsole.db"
    meta = None if fresh else _fresh(meta_path, key)
    if meta is not None and path.exists():
        return path, datetime.fromtimestamp(meta["anchor"], UTC)
    _drop_stale(data_dir, f"dataset-{sizes.messages}-")
    folder.mkdir(parents=True, exist_ok=True)
    anchor = datetime.now(UTC).replace(microsecond=0)
    log(f"generating {sizes.messages:,} messages / {sizes.attempts:,} attempts into {path} …")
    t0 = time.perf_counter()
    load_sqlite(path, generate_dataset(sizes, anchor))
    seconds = time.perf_counter() - t0
    log(f"dataset ready in {seconds:.1f} s ({path.stat().st_size / 1e6:,.0f} MB)")
    meta_path.write_text(
        json.dumps(
            {
                "key": key,
                "generated_at": time.time(),
                "anchor": anchor.timestamp(),
                "seconds": seconds,
            }
        )
    )
    return path, anchor


def _pg_prefix(sqlite_path: Path) -> str:
    """Database names of one data directory: runs on other data directories (the smoke test's
    temporary one, say) never touch them."""
    digest = hashlib.sha256(str(sqlite_path.parent.parent.resolve()).encode()).hexdigest()[:8]
    return f"mcbench_{digest}_"


def dataset_pg(sqlite_path: Path, admin_url: str, *, fresh: bool = False) -> str:
    """A PostgreSQL database holding the same rows as `sqlite_path` (built or reused)."""
    import psycopg

    meta_path = sqlite_path.with_name("meta.json")
    meta = json.loads(meta_path.read_text())
    prefix = _pg_prefix(sqlite_path)
    name = f"{prefix}{meta['key']}_{int(meta['generated_at'])}"
    base = admin_url.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        existing = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
            ).fetchall()
        ]
        if name in existing and meta.get("pg") == name and not fresh:
            return url
        for old in existing:
            conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"copying the dataset into PostgreSQL database {name} …")
    t0 = time.perf_counter()
    load_postgres(sqlite_path, url)
    log(f"PostgreSQL dataset ready in {time.perf_counter() - t0:.1f} s")
    meta["pg"] = name
    meta_path.write_text(json.dumps(meta))
    return url


def drop_pg(sqlite_path: Path, admin_url: str) -> None:
    """Drop this data directory's PostgreSQL databases (throwaway --quick runs)."""
    import psycopg

    prefix = _pg_prefix(sqlite_path)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for (name,) in conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
        ).fetchall():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def queue_db(data_dir: Path, n: int, *, fresh: bool = False) -> Path:
    """A SQLite file with `n` queued messages (cached like the dataset)."""
    key = cache_key("queue", n)
    folder = data_dir / f"queue-{n}-{key}"
    meta_path = folder / "meta.json"
    path = folder / "mailconsole.db"
    if not fresh and _fresh(meta_path, key) is not None and path.exists():
        return path
    _drop_stale(data_dir, f"queue-{n}-")
    folder.mkdir(parents=True, exist_ok=True)
    anchor = datetime.now(UTC)
    t0 = time.perf_counter()
    load_sqlite(path, generate_queue(n, anchor), extras=False)
    log(f"queue of {n:,} ready in {time.perf_counter() - t0:.1f} s")
    meta_path.write_text(json.dumps({"key": key, "generated_at": time.time()}))
    return path


def copy_db(src: Path, dest: Path) -> Path:
    """A private copy of a cached SQLite file, for a figure that changes it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(dest) + suffix).unlink(missing_ok=True)
    shutil.copyfile(src, dest)
    return dest


# --- JSONL for the enqueue figure ------------------------------------------------------------------


def jsonl_messages(n: int, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """What a producer pipes into `mailconsole enqueue --jsonl`: one order mail per line."""
    rng = random.Random(seed + 7)
    pick_domain = _domain_picker(rng)
    for i in range(1, n + 1):
        name = f"user{rng.randrange(10_000_000)}"
        item: dict[str, Any] = {
            "to": f"{name}@{pick_domain()}",
            "subject": rng.choice(SUBJECTS).format(n=i, name=name),
            "text": BODY.format(name=name, n=i),
            "from": FROM_ADDR,
        }
        tag = rng.choice(TAGS)
        if tag:
            item["tag"] = tag
        yield item


def write_jsonl(path: Path, n: int) -> Path:
    if path.exists() and path.with_suffix(".ok").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for item in jsonl_messages(n):
            fh.write(json.dumps(item) + "\n")
    path.with_suffix(".ok").write_text(str(n))
    return path
