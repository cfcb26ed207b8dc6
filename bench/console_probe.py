"""`mailconsole` as a user starts it, plus one observer: exit once the Dashboard is painted.

Run by fig_console_start in a pseudo-terminal: `python bench/console_probe.py [global options]`
is exactly `mailconsole [global options]` (the console script calls the same `main()`), except
that `DashboardScreen.show_snapshot` — the callback that renders the first `dashboard_snapshot`
into the cards — is wrapped: after it has run, `call_after_refresh` waits for the screen refresh
that draws those cards to the terminal, writes the wall-clock time to $BENCH_PAINT_FILE, and
exits the app. No application file is changed; the wrapper adds one function call per refresh.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _install_observer(paint_file: str) -> None:
    from mailconsole.screens import dashboard

    original = dashboard.DashboardScreen.show_snapshot
    state = {"done": False}

    def show_snapshot(self: Any, snap: Any) -> None:
        original(self, snap)
        if state["done"]:
            return
        state["done"] = True

        def painted() -> None:
            Path(paint_file).write_text(repr(time.time()))
            self.app.exit()

        self.app.call_after_refresh(painted)

    dashboard.DashboardScreen.show_snapshot = show_snapshot  # type: ignore[method-assign]


def main() -> None:
    _install_observer(os.environ["BENCH_PAINT_FILE"])
    from mailconsole.cli.main import cli

    cli(args=sys.argv[1:], prog_name="mailconsole")


if __name__ == "__main__":
    main()
