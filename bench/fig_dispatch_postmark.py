"""Dispatch throughput through Postmark's batch API, against a bare httpx client.

Workload: `postmark_messages` messages queued with the project's `enqueue_many` (not timed) in a
fresh SQLite store; a FakePostmark in its own process answers every request after 50 ms.
Engine: `mailconsole.engine.worker.run_once` — what `mailconsole worker --once` runs: lease
recovery, then `run_dispatch_once` back to back (claim with leases, send in batches of 500 over
the backend's `max_connections` slots, record attempts and states) until the queue is drained.
Baseline: one `httpx.AsyncClient` posting the same batch payloads (500 messages per request,
built beforehand) with the same concurrency to the same server, parsing each answer; no database.
Figure: messages/s of each, median of `runs` whole runs; target engine ≥ 0.8 × baseline.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from bench import data
from bench.common import Result, Sizes, log, median
from bench.engine_setup import POSTMARK_TOKEN, incident_config, make_ctx, sqlite_url
from bench.servers import serve

LATENCY_S = 0.05
BATCH = 500  # backends.postmark.MAX_BATCH
CONNECTIONS = 4  # PostmarkBackend's default max_connections


def postmark_config(url: str) -> dict[str, Any]:
    cfg = incident_config(postmark_url=url)
    del cfg["accounts"]["smtp-backup"]
    cfg["routing"] = {"primary": "postmark-main"}
    return cfg


def payloads(n: int) -> list[list[dict[str, Any]]]:
    """The JSON the Postmark backend posts for the same messages, in batches of 500."""
    out: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    for i, m in enumerate(data.jsonl_messages(n), start=1):
        body: dict[str, Any] = {
            "From": m["from"],
            "To": m["to"],
            "Subject": m["subject"],
            "MessageStream": "outbound",
            "Metadata": {"mailconsole_id": str(i)},
            "TextBody": m["text"],
        }
        if m.get("tag"):
            body["Tag"] = m["tag"]
        batch.append(body)
        if len(batch) == BATCH:
            out.append(batch)
            batch = []
    if batch:
        out.append(batch)
    return out


async def _baseline(url: str, batches: list[list[dict[str, Any]]]) -> int:
    headers = {
        "X-Postmark-Server-Token": POSTMARK_TOKEN,
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    todo = iter(batches)
    sent = 0
    async with httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=CONNECTIONS)
    ) as client:

        async def worker() -> None:
            nonlocal sent
            for batch in todo:
                response = await client.post(f"{url}/email/batch", json=batch, headers=headers)
                response.raise_for_status()
                answers = response.json()
                sent += sum(1 for a in answers if a.get("ErrorCode") == 0)

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return sent


def baseline_run(url: str, batches: list[list[dict[str, Any]]], n: int) -> float:
    t0 = time.perf_counter()
    sent = asyncio.run(_baseline(url, batches))
    seconds = time.perf_counter() - t0
    if sent != n:
        raise RuntimeError(f"baseline: {sent} of {n} accepted")
    return n / seconds


def engine_run(work: Path, template: Path, url: str, n: int) -> tuple[float, dict[str, Any]]:
    from mailconsole.engine.enqueue import enqueue_many
    from mailconsole.engine.worker import run_once

    path = data.copy_db(template, work / "postmark.db")
    ctx = make_ctx(sqlite_url(path), postmark_config(url))
    report = enqueue_many(ctx, enumerate(data.jsonl_messages(n), start=1))
    assert report.accepted == n, report.errors[:3]
    t0 = time.perf_counter()
    total = asyncio.run(run_once(ctx, echo=lambda _line: None))
    seconds = time.perf_counter() - t0
    ctx.db.dispose()
    if total.sent != n:
        raise RuntimeError(f"engine: sent {total.sent} of {n}: {total.summary()}")
    return n / seconds, {"batches": total.batches, "runs_seconds": round(seconds, 2)}


def run(sizes: Sizes, work: Path) -> list[Result]:
    n = sizes.postmark_messages
    work.mkdir(parents=True, exist_ok=True)
    template = data.empty_store(work / "empty.db")
    batches = payloads(n)
    engine, base, extra = [], [], {}
    for i in range(sizes.runs):
        with serve("postmark", latency=LATENCY_S) as server:
            base.append(baseline_run(server.address, batches, n))
            rate, extra = engine_run(work, template, server.address, n)
            engine.append(rate)
        log(f"run {i + 1}: engine {engine[-1]:,.0f} msg/s, httpx {base[-1]:,.0f} msg/s")
    value, baseline = median(engine), median(base)
    ratio = value / baseline
    return [
        Result(
            figure="dispatch_postmark",
            label=f"dispatch, Postmark batch API ({n:,} msgs, 50 ms latency)",
            value=value,
            unit="msg/s",
            baseline=baseline,
            baseline_label="bare httpx, same batches and concurrency",
            ratio=ratio,
            target="≥ 0.8× baseline",
            passed=ratio >= 0.8,
            details={"engine_runs": engine, "baseline_runs": base, **extra},
        )
    ]
