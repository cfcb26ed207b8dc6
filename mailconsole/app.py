"""The console: a Textual App whose top-level screens are modes taken from the screen registry.

The app itself only wires things together: the AppContext (every screen calls services with
it), the modes and their keys from the registry in `mailconsole.screens`, the user's keymap, the help
screen, the command palette, and, when asked, the engine's scheduler in the app's own loop.
The CLI and the tests both build it with `build_app(...)`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from mailconsole.commands import MailconsoleCommands, known_binding_ids
from mailconsole.context import AppContext
from mailconsole.screens import ScreenSpec, ordered

log = logging.getLogger(__name__)

SchedulerFactory = Callable[[AppContext], Any]


def _mode_factory(spec: ScreenSpec) -> Callable[[], Screen[Any]]:
    def make() -> Screen[Any]:
        screen = spec.load()()
        screen.mc_mode = spec.mode  # type: ignore[attr-defined]
        return screen

    return make


def _screen_bindings() -> list[BindingType]:
    return [
        Binding(s.key, f"switch_mode('{s.mode}')", s.title, show=False, id=s.binding_id)
        for s in ordered()
    ]


class MailconsoleApp(App[None]):
    """The operations console."""

    TITLE = "mailconsole"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, Any]] = {s.mode: _mode_factory(s) for s in ordered()}
    COMMANDS = App.COMMANDS | {MailconsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *_screen_bindings(),
        Binding("question_mark", "help", "Keys", id="app.help"),
        Binding("colon", "command_palette", "Commands", show=False, id="app.commands"),
    ]

    def __init__(
        self,
        ctx: AppContext,
        *,
        run_scheduler: bool = False,
        refresh_seconds: float | None = None,
        initial_mode: str = "dashboard",
        scheduler_factory: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.run_scheduler = run_scheduler
        self._refresh_seconds = refresh_seconds
        self.initial_mode = initial_mode if initial_mode in self.MODES else next(iter(self.MODES))
        self._scheduler_factory = scheduler_factory
        self.scheduler: Any = None

    @property
    def refresh_seconds(self) -> float:
        """Seconds between automatic refreshes; 0 turns them off (tests, snapshots)."""
        if self._refresh_seconds is not None:
            return max(0.0, self._refresh_seconds)
        return self.ctx.config.ui.refresh_seconds

    async def on_mount(self) -> None:
        keymap = dict(self.ctx.config.ui.keymap)
        if keymap:
            unknown = sorted(set(keymap) - known_binding_ids(self))
            if unknown:
                self.notify(
                    f"ui.keymap: unknown binding id(s) {', '.join(unknown)}; press ? for the ids",
                    title="Configuration",
                    severity="warning",
                    markup=False,
                )
            self.set_keymap(keymap)
        await self.switch_mode(self.initial_mode)
        if self.run_scheduler:
            await self.start_scheduler()

    async def on_unmount(self) -> None:
        await self.stop_scheduler()

    # --- scheduler ------------------------------------------------------------------------------

    async def start_scheduler(self) -> None:
        """Run the engine's jobs in this loop; if another process leads, this console views."""
        try:
            if self._scheduler_factory is not None:
                scheduler = self._scheduler_factory(self.ctx)
            else:
                from mailconsole.engine.scheduler import EngineScheduler

                scheduler = EngineScheduler(self.ctx)
            started = scheduler.start()
            if inspect.isawaitable(started):
                await started
        except Exception as exc:
            from mailconsole.screens.base import notify_error

            notify_error(self, exc, "Scheduler")
            return
        self.scheduler = scheduler

    async def stop_scheduler(self) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is None:
            return
        try:
            stopped = scheduler.shutdown()
            if inspect.isawaitable(stopped):
                await stopped
        except Exception:
            log.warning("scheduler shutdown failed", exc_info=True)

    # --- actions --------------------------------------------------------------------------------

    def action_help(self) -> None:
        from mailconsole.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(self.screen))

    def modal_open(self) -> bool:
        """Whether a dialog (or any screen over the current mode's screen) is showing."""
        return len(self.screen_stack) > 1


def build_app(
    ctx: AppContext,
    *,
    run_scheduler: bool = False,
    refresh_seconds: float | None = None,
    initial_mode: str = "dashboard",
    scheduler_factory: SchedulerFactory | None = None,
) -> MailconsoleApp:
    """The app as the CLI runs it and the tests drive it."""
    return MailconsoleApp(
        ctx,
        run_scheduler=run_scheduler,
        refresh_seconds=refresh_seconds,
        initial_mode=initial_mode,
        scheduler_factory=scheduler_factory,
    )


APP_DIR = Path(__file__).parent

__all__ = ["MailconsoleApp", "build_app"]
