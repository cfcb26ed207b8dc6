"""Dispatch throughput over SMTP, against `smtplib` on one reused connection.

Workload: `smtp_messages` messages queued with `enqueue_many` (not timed); a FakeSmtp (aiosmtpd)
in its own process accepts them on 127.0.0.1.
Engine: `run_once` (as `mailconsole worker --once`) with the SMTP backend's defaults (batches of
50, up to 4 pooled connections); the MIME messages are built during the run, as in production.
Baseline: `smtplib.SMTP.sendmail` of the same messages, serialized to bytes beforehand, one after
the other over one connection, no database: the protocol's limit for one connection.
Figure: messages/s, median of `runs`; target engine ≥ 1.0 × baseline (it uses several
connections to get there).
"""

from __future__ import annotations

import asyncio
import email.utils
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench import data
from bench.common import Result, Sizes, log, median
from bench.engine_setup import incident_config, make_ctx, sqlite_url
from bench.servers import serve


def smtp_config(port: int) -> dict[str, Any]:
    cfg = incident_config(smtp_port=port)
    del cfg["accounts"]["postmark-main"]
    cfg["routing"] = {"primary": "smtp-backup"}
    return cfg


def serialized(n: int) -> list[tuple[str, str, bytes]]:
    """(sender, recipient, bytes) for the same messages, as the SMTP backend would build them."""
    out = []
    for i, m in enumerate(data.jsonl_messages(n), start=1):
        mime = EmailMessage()
        mime["From"] = m["from"]
        mime["To"] = m["to"]
        mime["Subject"] = m["subject"]
        mime["Date"] = email.utils.formatdate(usegmt=True)
        mime["Message-ID"] = email.utils.make_msgid(domain="shop.example")
        mime["X-Mailconsole-Id"] = str(i)
        if m.get("tag"):
            mime["X-Mailconsole-Tag"] = m["tag"]
        mime.set_content(m["text"])
        out.append((m["from"], m["to"], mime.as_bytes()))
    return out


def baseline_run(port: int, messages: list[tuple[str, str, bytes]]) -> float:
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.local") as client:
        for sender, rcpt, raw in messages:
            client.sendmail(sender, [rcpt], raw)
    return len(messages) / (time.perf_counter() - t0)


def engine_run(work: Path, template: Path, port: int, n: int) -> tuple[float, dict[str, Any]]:
    from mailconsole.engine.enqueue import enqueue_many
    from mailconsole.engine.worker import run_once

    path = data.copy_db(template, work / "smtp.db")
    ctx = make_ctx(sqlite_url(path), smtp_config(port))
    report = enqueue_many(ctx, enumerate(data.jsonl_messages(n), start=1))
    assert report.accepted == n, report.errors[:3]
    t0 = time.perf_counter()
    total = asyncio.run(run_once(ctx, echo=lambda _line: None))
    seconds = time.perf_counter() - t0
    ctx.db.dispose()
    if total.sent != n:
        raise RuntimeError(f"engine: sent {total.sent} of {n}: {total.summary()}")
    return n / seconds, {"batches": total.batches, "engine_seconds": round(seconds, 2)}


def run(sizes: Sizes, work: Path) -> list[Result]:
    n = sizes.smtp_messages
    work.mkdir(parents=True, exist_ok=True)
    template = data.empty_store(work / "empty.db")
    messages = serialized(n)
    engine, base, extra = [], [], {}
    for i in range(sizes.runs):
        with serve("smtp") as server:
            port = int(server.address)
            base.append(baseline_run(port, messages))
            rate, extra = engine_run(work, template, port, n)
            engine.append(rate)
        received = server.stats.get("received")
        if received is not None and received != 2 * n:
            raise RuntimeError(f"the SMTP sink received {received} messages, expected {2 * n}")
        extra["server_connections"] = server.stats.get("connections")
        log(f"run {i + 1}: engine {engine[-1]:,.0f} msg/s, smtplib {base[-1]:,.0f} msg/s")
    value, baseline = median(engine), median(base)
    ratio = value / baseline
    return [
        Result(
            figure="dispatch_smtp",
            label=f"dispatch, SMTP ({n:,} msgs to aiosmtpd)",
            value=value,
            unit="msg/s",
            baseline=baseline,
            baseline_label="smtplib, pre-serialized, one connection",
            ratio=ratio,
            target="≥ 1.0× baseline",
            passed=ratio >= 1.0,
            details={"engine_runs": engine, "baseline_runs": base, **extra},
        )
    ]
