"""Helpers for the console tests: waiting for workers, reading the screen as text, seeding."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable

from mailconsole.clock import FakeClock
from mailconsole.context import Actor, AppContext
from mailconsole.demo import build_demo, demo_context


async def settle(pilot: Pilot[Any], rounds: int = 3) -> None:
    """Let pending messages run and every worker finish (and what their results start), and
    every DataTable measure its new rows (it does that lazily, on its next Idle event)."""
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await wait_for_tables(pilot)


async def wait_for_tables(pilot: Pilot[Any]) -> None:
    """Until every DataTable has measured its new rows (lazily, on its next Idle event):
    a snapshot taken before that shows header-width columns."""
    for _ in range(100):
        pending = [
            table
            for screen in pilot.app.screen_stack
            for table in screen.query(DataTable)
            if table._require_update_dimensions or table._updated_cells
        ]
        if not pending:
            break
        await pilot.pause(0.01)
    await pilot.pause()


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain lines (from the same SVG export as the snapshots)."""
    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in re.findall(r'<text[^>]*x="([\d.]+)"[^>]*y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        plain = html.unescape(re.sub("<[^>]+>", "", text)).replace("\xa0", " ")
        rows.setdefault(float(y), []).append((float(x), plain))
    lines = []
    for y in sorted(rows):
        line = ""
        for x, text in sorted(rows[y]):
            column = round(x / 12.2)
            line = line.ljust(column) + text
        lines.append(line.rstrip())
    return "\n".join(lines)


def notifications(app: App[Any]) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def demo_ctx(tmp_path: Path, clock: FakeClock, messages: int = 3000, **kwargs: Any) -> AppContext:
    """A demo database (seeded, on the fake clock) as the tests' realistic fixed data."""
    result = build_demo(tmp_path / "demo.db", messages=messages, clock=clock, **kwargs)
    return demo_context(result, clock=clock).with_actor(Actor(name="tester", interface="console"))


def mark_leader(ctx: AppContext, owner: str = "worker@ops-1:4242") -> None:
    """Record that `owner` leads the scheduler and ran a dispatch 2 s ago (next in 3 s)."""
    from datetime import timedelta

    from mailconsole.engine.leader import LEADER, try_acquire
    from mailconsole.store.models import JobRun

    now = ctx.clock.now()
    assert try_acquire(ctx, LEADER, owner, 30).acquired
    with ctx.db.writing() as session:
        session.add(
            JobRun(
                job="dispatch",
                owner=owner,
                started_at=now - timedelta(seconds=3),
                finished_at=now - timedelta(seconds=2),
                next_run_at=now + timedelta(seconds=3),
                outcome="ok",
                summary={"sent": 12},
            )
        )
