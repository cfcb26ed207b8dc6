"""Export of the whole mail log to CSV: `mailconsole logs export` against the `sqlite3` CLI.

Engine: the real CLI in a subprocess, `mailconsole logs export --format=csv --output FILE`, on the
incident dataset (every message, newest first, formulas neutralised, all fields quoted), with
its peak RSS (the kernel's VmHWM, sampled until it exits).
Baseline: Debian's `sqlite3 -csv` writing the same columns in the same order to a file (when the
CLI is missing, Python's sqlite3 module with `csv.writer` instead, and the report says so).
Figure: rows/s, median of `runs`; targets: ≥ 0.3 × the baseline, and peak RSS ≤ 200 MB.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from bench.common import Result, Sizes, child_env, log, median, run_cli, write_config
from bench.engine_setup import incident_config, sqlite_url, to_toml

RSS_LIMIT_MB = 200.0


def columns() -> list[str]:
    from mailconsole.services.logs import ROW_FIELDS

    return list(ROW_FIELDS)


def baseline_sql() -> str:
    return f"SELECT {', '.join(columns())} FROM message ORDER BY created_at DESC, id DESC"


def baseline_run(db_path: Path, out: Path) -> tuple[float, str]:
    sql = baseline_sql()
    t0 = time.perf_counter()
    if shutil.which("sqlite3"):
        with out.open("wb") as fh:
            subprocess.run(["sqlite3", "-csv", "-header", str(db_path), sql], stdout=fh, check=True)
        tool = "sqlite3 -csv"
    else:
        conn = sqlite3.connect(db_path)
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            cur = conn.execute(sql)
            writer.writerow(columns())
            writer.writerows(cur)
        conn.close()
        tool = "python sqlite3 + csv (no sqlite3 CLI)"
    return time.perf_counter() - t0, tool


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def run(sizes: Sizes, db_path: Path, work: Path) -> list[Result]:
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work / "config.toml", to_toml(incident_config()))
    env = child_env(config, sqlite_url(db_path))
    out = work / "export.csv"
    rows = sizes.messages
    engine, base, peaks = [], [], []
    tool = ""
    for i in range(sizes.runs):
        seconds, tool = baseline_run(db_path, out)
        base.append(rows / seconds)
        out.unlink()
        seconds, peak = run_cli(["logs", "export", "--format=csv", "--output", str(out)], env)
        lines = count_lines(out)
        out.unlink()
        if lines < rows + 1:
            raise RuntimeError(f"export wrote {lines} lines for {rows} rows")
        engine.append(rows / seconds)
        peaks.append(peak)
        log(f"run {i + 1}: export {engine[-1]:,.0f} rows/s (peak RSS {peak:.0f} MB), "
            f"{tool} {base[-1]:,.0f} rows/s")  # fmt: skip
    value, baseline = median(engine), median(base)
    ratio = value / baseline
    peak = max(peaks)
    return [
        Result(
            figure="export",
            label=f"export {rows:,} rows to CSV (logs export)",
            value=value,
            unit="rows/s",
            baseline=baseline,
            baseline_label=f"{tool}, same columns",
            ratio=ratio,
            target="≥ 0.3× baseline",
            passed=ratio >= 0.3,
            details={"engine_runs": engine, "baseline_runs": base, "peak_rss_mb": peaks},
        ),
        Result(
            figure="export",
            label="export peak RSS (child process)",
            value=peak,
            unit="MB",
            baseline=None,
            baseline_label="none",
            ratio=None,
            target="≤ 200 MB",
            passed=peak <= RSS_LIMIT_MB,
            details={"peak_rss_mb": peaks},
        ),
    ]
