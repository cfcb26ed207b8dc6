"""The benchmark harness still runs: `python bench/run.py --quick` prints every figure.

The sizes are tiny (thousands of rows, a few seconds of worker), so the figures mean nothing
here; what is checked is that every figure's script runs end to end against the current code —
the real CLI, the fake providers in their own processes, the console in a pseudo-terminal — and
prints a verdict line for each figure, so the scripts cannot rot between benchmark runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parent.parent

FIGURE_LINES = (
    "dispatch, Postmark batch API",
    "dispatch, SMTP",
    "enqueue --jsonl",
    "dashboard snapshot, SQLite",
    "dashboard snapshot, PostgreSQL",
    "mail-log page 2,000 rows deep, no filter",
    "mail-log page 2,000 rows deep, status:delivered",
    "mail-log page 2,000 rows deep, domain:gmail.com",
    "bulk retry, plan + apply",
    "export 4,000 rows to CSV",
    "export peak RSS",
    "console start to first painted Dashboard",
    "worker peak RSS",
)


@pytest.mark.timeout(120)
def test_bench_quick_run_prints_every_figure_with_baseline_and_verdict(tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL could not be started: see .ci/start-postgres.sh")
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCONSOLE_")}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--pg-url",
            PG_URL,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("machine: ") and "cores" in lines[0]
    assert "SQLite" in lines[1] and "PostgreSQL" in lines[1]
    for label in FIGURE_LINES:
        verdicts = [
            line
            for line in lines
            if label in line and line.strip().split()[0] in ("PASS", "MISS", "—")
        ]
        assert verdicts, f"no verdict line for {label!r}:\n{proc.stdout[-3000:]}"
        assert "| target" in verdicts[0] and "baseline (" in verdicts[0]
    results = json.loads(out.read_text())
    assert results["machine"]["cores"] and results["machine"]["sqlite"]
    names = {r["figure"] for r in results["results"]}
    assert names == {
        "dispatch_postmark",
        "dispatch_smtp",
        "enqueue",
        "dashboard",
        "mail_log",
        "bulk_retry",
        "export",
        "console_start",
        "worker_memory",
    }
