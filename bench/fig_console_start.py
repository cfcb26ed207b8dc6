"""Console start: `mailconsole --read-only` to the first painted Dashboard, on the incident dataset.

Method: the console runs in a pseudo-terminal (120×40, TERM=xterm-256color) as a child process,
started through bench/console_probe.py, which is `mailconsole` plus an observer that records the
moment the first `dashboard_snapshot` has been rendered into the cards and that refresh has been
drawn to the terminal (Textual's `call_after_refresh` after `show_snapshot`), then exits. The
figure is that moment minus the moment the child was spawned: interpreter start, imports, config,
database and schema check, the app's start-up, the scheduler's start (read-only here, so it only
watches), the snapshot query on 1,000,000 messages, and the paint.
Baseline: `python -c "import textual"` (spawn to exit), the floor of any Textual app.
Figure: median of `runs` + 2 starts (they are short; one in --quick); target ≤ 1.5 s.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

from bench.common import PYTHON, ROOT, Result, Sizes, child_env, log, median, write_config
from bench.engine_setup import incident_config, sqlite_url, to_toml

TARGET_S = 1.5
TIMEOUT_S = 60.0


def _drain(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def console_start(env: dict[str, str], paint_file: Path) -> float:
    """Seconds from spawning the console in a pty to its first painted Dashboard."""
    paint_file.unlink(missing_ok=True)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**env, "TERM": "xterm-256color", "BENCH_PAINT_FILE": str(paint_file)}
    env.pop("NO_COLOR", None)
    t0 = time.time()
    proc = subprocess.Popen(
        [PYTHON, str(ROOT / "bench" / "console_probe.py"), "--read-only"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    reader = threading.Thread(target=_drain, args=(master,), daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError("the console did not paint its Dashboard within 60 s") from None
    finally:
        os.close(master)
        reader.join(timeout=5)
    if not paint_file.exists():
        raise RuntimeError(f"the console exited ({code}) without painting the Dashboard")
    return float(paint_file.read_text()) - t0


def import_textual(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-c", "import textual"], env=env, check=True)
    return time.perf_counter() - t0


def run(sizes: Sizes, db_path: Path, work: Path, xdg: dict[str, str]) -> list[Result]:
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work / "config.toml", to_toml(incident_config()))
    env = child_env(config, sqlite_url(db_path), **xdg)
    starts, base = [], []
    for i in range(sizes.runs + 2 if not sizes.quick else 1):
        base.append(import_textual(env))
        starts.append(console_start(env, work / "painted"))
        log(f"start {i + 1}: first painted Dashboard {starts[-1]:.2f} s, "
            f"import textual {base[-1]:.2f} s")  # fmt: skip
    value, baseline = median(starts), median(base)
    return [
        Result(
            figure="console_start",
            label=f"console start to first painted Dashboard ({sizes.messages:,} msgs)",
            value=value,
            unit="s",
            baseline=baseline,
            baseline_label='python -c "import textual"',
            ratio=value / baseline,
            target="≤ 1.5 s",
            passed=value <= TARGET_S,
            details={"starts_s": starts, "import_textual_s": base},
        )
    ]
