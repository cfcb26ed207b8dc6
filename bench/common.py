"""What every benchmark figure shares: sizes, timing, medians, child RSS, results and the machine.

A figure is measured against a baseline in the same run, on the same machine, and reported as a
`Result`: the value, the baseline, their ratio, the target and whether it was met, plus a line on
what limits it. Times are wall-clock (`time.perf_counter`); a figure is the median of several
whole runs (`repeat`).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
DEFAULT_DATA_DIR = BENCH_DIR / "data"
OUT_DIR = BENCH_DIR / "out"
PYTHON = sys.executable
MAILCONSOLE = str(Path(sys.executable).with_name("mailconsole"))
DEFAULT_PG_URL = "postgresql://mailconsole@127.0.0.1:54329/postgres"
SEED = 20261124


# --- sizes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Every workload size in one place: the issue's figures, or tiny ones for `--quick`."""

    quick: bool
    messages: int  # the big dataset (dashboard, mail log, retry, export, console start)
    attempts: int
    dead: int  # dead letters in the big dataset (the bulk retry acts on all of them)
    queued: int  # backlog in the big dataset (the newest messages)
    deep_rows: int  # how deep the "deep" mail-log page is
    postmark_messages: int
    smtp_messages: int
    enqueue_messages: int
    worker_small: int
    worker_large: int
    worker_window_s: float  # how long the worker runs before its RSS is read
    runs: int  # whole runs of a long figure (median)
    quick_runs: int  # repetitions of a sub-second query (median)


FULL = Sizes(
    quick=False,
    messages=1_000_000,
    attempts=3_000_000,
    dead=100_000,
    queued=100_000,
    deep_rows=500_000,
    postmark_messages=50_000,
    smtp_messages=10_000,
    enqueue_messages=1_000_000,
    worker_small=10_000,
    worker_large=1_000_000,
    worker_window_s=20.0,
    runs=3,
    quick_runs=25,
)

QUICK = Sizes(
    quick=True,
    messages=4_000,
    attempts=12_000,
    dead=400,
    queued=400,
    deep_rows=2_000,
    postmark_messages=1_000,
    smtp_messages=200,
    enqueue_messages=2_000,
    worker_small=200,
    worker_large=2_000,
    worker_window_s=0.5,
    runs=1,
    quick_runs=3,
)


# --- results ------------------------------------------------------------------------------------


@dataclass
class Result:
    """One line of the report."""

    figure: str  # the --only name
    label: str  # what was measured
    value: float
    unit: str
    baseline: float | None
    baseline_label: str
    ratio: float | None  # value / baseline (see ratio_label for which way is better)
    target: str
    passed: bool | None  # None: reported without a target
    limit: str = ""  # what limits the figure now
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "—"
        return "PASS" if self.passed else "MISS"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "msg/s" or unit == "rows/s":
        return f"{value:,.0f} {unit}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:g} {unit}"


def print_result(r: Result) -> None:
    ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "—"
    base = fmt_value(r.baseline, r.details.get("baseline_unit", r.unit))
    print(
        f"  {r.verdict:4}  {r.label}: {fmt_value(r.value, r.unit)}  | baseline ({r.baseline_label}): "
        f"{base}  | ratio {ratio}  | target {r.target}",
        flush=True,
    )


# --- timing -------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = func()
    return time.perf_counter() - t0, out


def repeat_ms(func: Callable[[], Any], runs: int, warmup: int = 1) -> list[float]:
    """Milliseconds of `runs` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        func()
    out = []
    for _ in range(runs):
        seconds, _ = timed(func)
        out.append(seconds * 1000.0)
    return out


def repeat_pair_ms(
    first: Callable[[], Any], second: Callable[[], Any], runs: int, warmup: int = 1
) -> tuple[list[float], list[float]]:
    """Milliseconds of `runs` calls of each, alternated, so a busy moment hits both alike."""
    for _ in range(warmup):
        first()
        second()
    a, b = [], []
    for _ in range(runs):
        a.append(timed(first)[0] * 1000.0)
        b.append(timed(second)[0] * 1000.0)
    return a, b


def log(text: str) -> None:
    print(f"    {text}", flush=True)


# --- child processes and memory ------------------------------------------------------------------


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a live process in MB, from /proc/<pid>/status."""
    cur = peak = 0.0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024.0
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024.0
    return cur, peak


class PeakSampler:
    """Samples a child's RSS every `interval` s; `peak` is the largest VmHWM seen.

    VmHWM is the kernel's own high-water mark, so a short spike between samples still counts;
    sampling only keeps the last value readable after the child exits.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0.0
        self.last = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                cur, peak = rss_mb(self.pid)
            except (FileNotFoundError, ProcessLookupError, ValueError):
                return
            self.last = cur or self.last
            self.peak = max(self.peak, peak)
            self._stop.wait(self.interval)


def children_maxrss_mb() -> float:
    """ru_maxrss of the largest waited-for child so far (MB): a cross-check of PeakSampler."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def run_cli(
    args: Sequence[str],
    env: dict[str, str],
    *,
    stdin: Any = None,
    stdout: Any = subprocess.DEVNULL,
    check: bool = True,
) -> tuple[float, float]:
    """Run `mailconsole args…`; returns (wall seconds, peak RSS MB of the child)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [MAILCONSOLE, *args], env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE
    )
    with PeakSampler(proc.pid) as sampler:
        _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"mailconsole {' '.join(args)} exited {proc.returncode}: {err.decode()[-2000:]}"
        )
    return seconds, sampler.peak


def child_env(config: Path | None, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `mailconsole` child: our config and database, nothing of the user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCONSOLE_")}
    env["MAILCONSOLE_DATABASE_URL"] = database_url
    if config is not None:
        env["MAILCONSOLE_CONFIG"] = str(config)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


# --- configuration files ------------------------------------------------------------------------


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@contextmanager
def isolated_home(base: Path) -> Iterator[dict[str, str]]:
    """XDG dirs under `base`, so no child reads the user's config or writes their data dir."""
    env = {
        "XDG_CONFIG_HOME": str(base / "xdg-config"),
        "XDG_DATA_HOME": str(base / "xdg-data"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --- the machine ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def pg_version(url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except Exception as exc:
        return f"unavailable ({type(exc).__name__})"


def machine_info(pg_url: str | None) -> dict[str, Any]:
    cli = "not installed"
    try:
        cli = subprocess.run(
            ["sqlite3", "--version"], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(_ram_gb(), 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlite_cli": cli,
        "postgresql": pg_version(pg_url) if pg_url else "not used",
    }


def print_machine(info: dict[str, Any]) -> None:
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, {info['os']}\n"
        f"         Python {info['python']}, SQLite {info['sqlite']} (CLI {info['sqlite_cli']}), "
        f"PostgreSQL {info['postgresql']}",
        flush=True,
    )


def save_results(path: Path, info: dict[str, Any], results: list[Result], argv: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "command": " ".join(["python", "bench/run.py", *argv]),
        "machine": info,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [r.to_dict() for r in results],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def markdown_table(results: list[Result]) -> str:
    lines = [
        "| figure | result | baseline (same run) | ratio | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        base = fmt_value(r.baseline, r.details.get("baseline_unit", r.unit))
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "—"
        lines.append(
            f"| {r.label} | {fmt_value(r.value, r.unit)} | {r.baseline_label}: {base} | "
            f"{ratio} | {r.target} | {r.verdict} |"
        )
    return "\n".join(lines)
