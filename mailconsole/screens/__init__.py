"""The screen registry: one line per top-level screen, turned by the app into modes, key
bindings, header tabs and command-palette entries.

To add a screen, write its module (a `MailconsoleScreen` subclass, see `screens/base.py`) and
append one `ScreenSpec` below. List only screens whose module exists: the app imports each
one lazily, the first time its mode is opened.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.screen import Screen


@dataclass(frozen=True)
class ScreenSpec:
    """A top-level screen: its mode name, its key, and where its class lives."""

    mode: str
    key: str
    title: str
    import_path: str  # "package.module:ClassName"
    binding_id: str  # users remap the key with [ui.keymap] binding_id = "key"
    short: str = ""  # the header tab label (defaults to the title)
    help: str = ""  # one line for the command palette and the help screen
    order: int = 100  # position in the header tabs (d 10, q 20, l 30, x 40, t 50, a 60, p 70,
    # u 80, c 90); ties keep list order

    @property
    def tab_label(self) -> str:
        return self.short or self.title

    def load(self) -> type[Screen]:
        """Import the screen class (done on first use, so start-up stays fast)."""
        module_name, _, class_name = self.import_path.partition(":")
        return getattr(importlib.import_module(module_name), class_name)


SCREENS: list[ScreenSpec] = [
    ScreenSpec("dashboard", "d", "Dashboard", "mailconsole.screens.dashboard:DashboardScreen",
               "screen.dashboard", "Dashboard", "Health cards: backlog, failures, dead letters, outages", 10),
    ScreenSpec("logs", "l", "Mail logs", "mailconsole.screens.mail_logs:MailLogsScreen", "screen.logs", "Logs", "Filter, mark, retry, resend and export messages", 30),
    ScreenSpec("dead", "x", "Dead letters", "mailconsole.screens.dead_letters:DeadLettersScreen", "screen.dead", "Dead", "Dead letters by error code and domain; retry, open or export a group", 40),
    ScreenSpec("queue", "q", "Queue", "mailconsole.screens.queue:QueueScreen",
               "screen.queue", "Queue", "Backlog by domain and age; process now; pause", 20),
    ScreenSpec("trend", "t", "Failure trend", "mailconsole.screens.trend:TrendScreen",
               "screen.trend", "Trend", "Failure rate and volume per hour or day, by error code", 50),
    ScreenSpec("alerts", "a", "Alerts", "mailconsole.screens.alerts:AlertsScreen",
               "screen.alerts", "Alerts", "Alert rules and state; acknowledge, silence, notices sent", 60),
    ScreenSpec("providers", "p", "Providers", "mailconsole.screens.providers:ProvidersScreen",
               "screen.providers", "Providers", "Accounts, circuits, outages, fallback switch", 70),
    ScreenSpec("audit", "u", "Audit log", "mailconsole.screens.audit:AuditScreen",
               "screen.audit", "Audit", "Who did what, when, to how many messages", 80),
    ScreenSpec("campaigns", "c", "Campaigns & approvals", "mailconsole.screens.campaigns:CampaignsScreen", "screen.campaigns", "Campaigns", "Listmonk campaigns: approvals, consent check, test send, schedule, scorecard", 90),
]  # fmt: skip


def _module_exists(spec: ScreenSpec) -> bool:
    try:
        return importlib.util.find_spec(spec.import_path.partition(":")[0]) is not None
    except (ImportError, ValueError):
        return False


def ordered() -> list[ScreenSpec]:
    """The registered screens in tab order, leaving out any whose module is missing (a line
    added before its module was committed must not break the app)."""
    return sorted((s for s in SCREENS if _module_exists(s)), key=lambda s: s.order)


def spec_for(mode: str) -> ScreenSpec | None:
    return next((s for s in ordered() if s.mode == mode), None)


def has_mode(mode: str) -> bool:
    return spec_for(mode) is not None


__all__ = ["SCREENS", "ScreenSpec", "has_mode", "ordered", "spec_for"]
