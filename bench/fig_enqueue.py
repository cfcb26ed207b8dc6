"""Enqueue throughput: `mailconsole enqueue --jsonl` against a bare sqlite3 bulk insert.

Workload: `enqueue_messages` JSON lines (fixed seed: an order mail each, ~500 bytes of text,
one recipient, most with a tag), written once to `bench/data/`.
Engine: the real CLI in a subprocess, `mailconsole enqueue --jsonl FILE`, into a fresh SQLite
store that has the schema (the wall time includes the interpreter's start, reading, validating
every address, and the inserts).
Baseline: Python's `sqlite3` inserting the same rows (the `message` and `message_body` rows the
engine writes, prepared beforehand, not timed) with `executemany` in one transaction into a
fresh copy of the same schema (all indexes), with the application's pragmas (WAL,
synchronous=NORMAL): the database's own limit.
Figure: messages/s, median of `runs`; target ≥ 20,000 msg/s; the ratio is reported.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import data
from bench.common import Result, Sizes, child_env, log, median, run_cli, write_config
from bench.engine_setup import sqlite_url


def prepared_rows(n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows `insert_messages` writes for the same JSON lines (validation already done)."""
    now = data.ts(data.to_us(datetime.now(UTC)))
    msgs, bodies = [], []
    for i, m in enumerate(data.jsonl_messages(n), start=1):
        to = m["to"]
        size = len(m["subject"].encode()) + len(to) + len(m["text"].encode())
        msgs.append(
            (i, now, now, "queued", None, None, None, m.get("tag"), m["from"], to, None, None,
             None, m["subject"], to.rsplit("@", 1)[1], size, 0, now, None, None, None, None,
             None, None, None, None)
        )  # fmt: skip
        bodies.append((i, m["text"], None, "null", None, "null"))
    return msgs, bodies


def baseline_run(template: Path, work: Path, rows: tuple[list[Any], list[Any]]) -> float:
    path = data.copy_db(template, work / "baseline.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    msgs, bodies = rows
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(data._insert_sql("message"), msgs)
    conn.executemany(data._insert_sql("message_body"), bodies)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return len(msgs) / seconds


def engine_run(
    template: Path, work: Path, jsonl: Path, config: Path, n: int
) -> tuple[float, float]:
    path = data.copy_db(template, work / "enqueue.db")
    env = child_env(config, sqlite_url(path))
    seconds, peak = run_cli(["enqueue", "--jsonl", str(jsonl)], env)
    conn = sqlite3.connect(path)
    count = conn.execute("SELECT count(*) FROM message WHERE status = 'queued'").fetchone()[0]
    conn.close()
    if count != n:
        raise RuntimeError(f"enqueue loaded {count} of {n} messages")
    return n / seconds, peak


def run(sizes: Sizes, work: Path, data_dir: Path) -> list[Result]:
    n = sizes.enqueue_messages
    work.mkdir(parents=True, exist_ok=True)
    template = data.empty_store(work / "empty.db")
    jsonl = data.write_jsonl(
        data_dir / f"enqueue-{n}-{data.cache_key('jsonl', n, schema=False)}.jsonl", n
    )
    config = write_config(work / "config.toml", "# defaults: no accounts needed to enqueue\n")
    rows = prepared_rows(n)
    engine, base, peaks = [], [], []
    for i in range(sizes.runs):
        base.append(baseline_run(template, work, rows))
        rate, peak = engine_run(template, work, jsonl, config, n)
        engine.append(rate)
        peaks.append(peak)
        log(f"run {i + 1}: enqueue CLI {engine[-1]:,.0f} msg/s (peak RSS {peak:.0f} MB), "
            f"sqlite3 {base[-1]:,.0f} msg/s")  # fmt: skip
    for name in ("enqueue.db", "baseline.db"):
        for suffix in ("", "-wal", "-shm"):
            Path(str(work / name) + suffix).unlink(missing_ok=True)
    value, baseline = median(engine), median(base)
    return [
        Result(
            figure="enqueue",
            label=f"enqueue --jsonl, {n:,} msgs into SQLite",
            value=value,
            unit="msg/s",
            baseline=baseline,
            baseline_label="sqlite3 executemany, same rows, one transaction",
            ratio=value / baseline,
            target="≥ 20,000 msg/s",
            passed=value >= 20_000,
            details={"engine_runs": engine, "baseline_runs": base, "peak_rss_mb": max(peaks)},
        )
    ]
