"""Worker memory: RSS of `mailconsole worker` with 10,000 queued messages against 1,000,000.

Workload: two stores holding only queued messages (the fast loader, cached), each copied fresh
per run. The worker runs as a subprocess with one sandbox account (no network, 20 ms per batch)
throttled to `rate_per_second = 200`, so during the window both workers do the same work: claim,
send and record the same number of messages, while the backlog stays (it barely moves on
1,000,000 and stays above 5,000 on 10,000). The alert evaluation (every 5 s here) and the
provider health job (every 10 s) run too, so the queue metrics are computed over the whole
backlog several times.
Figure: `worker_window_s` after the worker prints that it leads (its jobs run from then on), its RSS and peak RSS (VmRSS, VmHWM from /proc) are read,
then it gets SIGTERM (graceful stop); the median of `runs` is taken for each size. Target: the
peak with 1,000,000 queued within 10 % of the peak with 10,000 queued. No baseline.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench import data
from bench.common import (
    MAILCONSOLE,
    PeakSampler,
    Result,
    Sizes,
    child_env,
    log,
    median,
    rss_mb,
    write_config,
)
from bench.engine_setup import sqlite_url, to_toml

RATE = 200.0
LEAD_TIMEOUT_S = 60.0


def worker_config() -> dict[str, Any]:
    return {
        "accounts": {
            "sandbox-main": {
                "type": "sandbox",
                "from": "orders@shop.example",
                "latency_ms": 20,
                "failure_rate": 0.0,
                "permanent_rate": 0.0,
                "rate_per_second": RATE,
                "seed": 7,
            }
        },
        "routing": {"primary": "sandbox-main"},
        "dispatch": {"interval_seconds": 1.0, "health_interval_seconds": 10.0},
        "alerts": {"evaluate_interval_seconds": 5.0},
    }


def one_worker(db: Path, config: Path, window_s: float, xdg: dict[str, str]) -> dict[str, float]:
    env = child_env(config, sqlite_url(db), **xdg)
    proc = subprocess.Popen(
        [MAILCONSOLE, "worker", "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    leading = threading.Event()

    def watch(stream: Any) -> None:
        for line in stream:
            if line.startswith("leading:"):
                leading.set()

    watcher = threading.Thread(target=watch, args=(proc.stdout,), daemon=True)
    watcher.start()
    with PeakSampler(proc.pid, interval=0.1) as sampler:
        # The window starts when the worker leads (its jobs run from then on).
        if not leading.wait(LEAD_TIMEOUT_S) or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"the worker did not start leading: {proc.stderr.read()[-1500:]}")
        time.sleep(window_s)
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited early: {proc.stderr.read()[-1500:]}")
        cur, peak = rss_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            err = proc.stderr.read()
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            err = ""
    watcher.join(timeout=5)
    if proc.returncode != 0:
        raise RuntimeError(f"worker exited {proc.returncode}: {err[-1500:]}")
    return {"rss_mb": cur, "peak_mb": max(peak, sampler.peak)}


def sent_count(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    n = conn.execute("SELECT count(*) FROM message WHERE status = 'sent'").fetchone()[0]
    conn.close()
    return int(n)


def run(sizes: Sizes, data_dir: Path, work: Path, xdg: dict[str, str]) -> list[Result]:
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work / "config.toml", to_toml(worker_config()))
    sources = {
        sizes.worker_small: data.queue_db(data_dir, sizes.worker_small),
        sizes.worker_large: data.queue_db(data_dir, sizes.worker_large),
    }
    samples: dict[int, list[dict[str, float]]] = {n: [] for n in sources}
    sent: dict[int, list[int]] = {n: [] for n in sources}
    for i in range(sizes.runs):
        for n, src in sources.items():
            db = data.copy_db(src, work / f"worker-{n}.db")
            samples[n].append(one_worker(db, config, sizes.worker_window_s, xdg))
            sent[n].append(sent_count(db))
            s = samples[n][-1]
            log(f"run {i + 1}, {n:,} queued: RSS {s['rss_mb']:.1f} MB, peak {s['peak_mb']:.1f} MB, "
                f"sent {sent[n][-1]:,} in {sizes.worker_window_s:.0f} s")  # fmt: skip
    for n in sources:
        for suffix in ("", "-wal", "-shm"):
            Path(str(work / f"worker-{n}.db") + suffix).unlink(missing_ok=True)
    small, large = sizes.worker_small, sizes.worker_large
    peak_small = median([s["peak_mb"] for s in samples[small]])
    peak_large = median([s["peak_mb"] for s in samples[large]])
    ratio = peak_large / peak_small
    return [
        Result(
            figure="worker_memory",
            label=f"worker peak RSS, {large:,} vs {small:,} queued",
            value=peak_large,
            unit="MB",
            baseline=peak_small,
            baseline_label=f"same worker, {small:,} queued",
            ratio=ratio,
            target="within 10 %",
            passed=abs(ratio - 1.0) <= 0.10,
            details={
                "rss_small_mb": [s["rss_mb"] for s in samples[small]],
                "rss_large_mb": [s["rss_mb"] for s in samples[large]],
                "sent_small": sent[small],
                "sent_large": sent[large],
            },
        )
    ]
