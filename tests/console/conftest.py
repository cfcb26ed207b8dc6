"""Console fixtures: an AppContext on a fresh SQLite file with a fake clock, the app factory,
and `snap_compare` storing SVGs in the top-level `snapshots/console/` folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_textual_snapshot
from pytest_textual_snapshot import SVGImageExtension
from syrupy import SnapshotAssertion

from mailconsole.app import MailconsoleApp, build_app
from mailconsole.clock import FakeClock
from mailconsole.config import Config
from mailconsole.context import Actor, AppContext
from mailconsole.store.db import Database
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_DIR = ROOT / "snapshots" / "console"


def console_config(**overrides: Any) -> Config:
    sections: dict[str, Any] = {
        "accounts": {
            "sandbox-main": {"type": "sandbox", "from": "ops@example.com", "latency_ms": 0,
                             "failure_rate": 0.0, "permanent_rate": 0.0},
            "sandbox-fallback": {"type": "sandbox", "from": "ops@example.com", "latency_ms": 0,
                                 "failure_rate": 0.0, "permanent_rate": 0.0},
        },
        "routing": {"primary": "sandbox-main", "fallback": "sandbox-fallback"},
    }  # fmt: skip
    sections.update(overrides)
    return make_config(**sections)


@pytest.fixture
def console_ctx(sqlite_db: Database, clock: FakeClock) -> AppContext:
    return AppContext(
        config=console_config(),
        db=sqlite_db,
        clock=clock,
        actor=Actor(name="tester", interface="console"),
    )


@pytest.fixture
def demo(tmp_path: Path, clock: FakeClock) -> Iterator[AppContext]:
    """A small demo database (3,000 messages, seed 7) on the fake clock: fixed, realistic data."""
    from tests.console.support import demo_ctx

    ctx = demo_ctx(tmp_path, clock)
    yield ctx
    ctx.db.dispose()


@pytest.fixture
def make_app(console_ctx: AppContext) -> Callable[..., MailconsoleApp]:
    """build_app with auto-refresh off (tests press `r` or await the worker themselves)."""

    def make(ctx: AppContext | None = None, **kwargs: Any) -> MailconsoleApp:
        kwargs.setdefault("refresh_seconds", 0)
        return build_app(ctx or console_ctx, **kwargs)

    return make


class ConsoleSVGExtension(SVGImageExtension):
    """Keep snapshot SVGs under the top-level snapshots/ folder (syrupy 4.8 has no option):
    `snapshots/console/<test module>/<test name>.svg`."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(SNAPSHOT_DIR / Path(test_location.filepath).stem)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion, monkeypatch: pytest.MonkeyPatch) -> SnapshotAssertion:
    """pytest-textual-snapshot 1.1.0's `snap_compare` calls
    `snapshot.use_extension(SVGImageExtension)` with its module's class when it is set up, which
    happens after this fixture (it requests `snapshot`): point that name at our subclass."""
    monkeypatch.setattr(pytest_textual_snapshot, "SVGImageExtension", ConsoleSVGExtension)
    return snapshot.use_extension(ConsoleSVGExtension)


# The header's tabs come from the screen registry, which other screens join: snapshot tests pin
# the tab list to the planned screens, so adding a tenth screen does not change every picture.
PINNED_TABS = ("dashboard", "queue", "logs", "dead", "trend", "alerts", "providers", "audit",
               "campaigns")  # fmt: skip


@pytest.fixture
def pinned_tabs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Header tabs limited to PINNED_TABS (for snapshot tests)."""
    from mailconsole import screens

    real = screens.ordered
    monkeypatch.setattr(screens, "ordered", lambda: [s for s in real() if s.mode in PINNED_TABS])


@pytest.fixture(autouse=True)
def _no_color_leak(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test decides about NO_COLOR itself (Textual reads it when the app is built)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield
