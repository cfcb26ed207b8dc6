"""What every top-level screen shares: the header and footer, service calls off the UI thread,
turning any failure into a notification, and confirm-then-act for mutating operations.

A screen subclasses `MailconsoleScreen`, yields its widgets from `compose_body()`, loads its data
in `reload()` with `call_service(...)`, and renders in the `done` callback (on the UI thread).
Widgets that call services themselves use the `ServiceWorkers` mixin directly.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from mailconsole.errors import MailconsoleError, ReadOnlyError
from mailconsole.widgets.app_header import AppHeader
from mailconsole.widgets.dialogs import ConfirmDialog, TypedConfirmDialog

if TYPE_CHECKING:
    from mailconsole.context import AppContext

log = logging.getLogger(__name__)

Done = Callable[[Any], Any]
Failed = Callable[[BaseException], Any]


def describe_error(exc: BaseException) -> tuple[str, str, str]:
    """(title, one-line message, severity) for a failure, never a traceback."""
    if isinstance(exc, ReadOnlyError):
        return exc.title, str(exc), "warning"
    if isinstance(exc, MailconsoleError):
        return exc.title, str(exc), "error"
    if isinstance(exc, OperationalError) and "locked" in str(exc.orig or exc).lower():
        return "Database busy", "the database is locked by another writer: try again", "error"
    if isinstance(exc, SQLAlchemyError):
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return "Database error", first[0] if first else type(exc).__name__, "error"
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return "Unexpected error", detail, "error"


def notify_error(node: DOMNode, exc: BaseException, action: str = "") -> None:
    """Show a failure as a notification (literal text, never markup)."""
    title, message, severity = describe_error(exc)
    if not isinstance(exc, MailconsoleError):
        log.error("%s failed", action or "service call", exc_info=exc)
    if action and not isinstance(exc, ReadOnlyError):
        title = f"{action}: {title}"
    node.app.notify(message, title=title, severity=severity, markup=False, timeout=8)  # type: ignore[arg-type]


class ServiceWorkers:
    """Mixin for screens and widgets: call a service function in a worker.

    `call_service(func, *args, done=…)` runs `func(ctx, *args)` in a thread (or, for an async
    service, as an async worker on the app's loop). `done(result)` runs on the UI thread when it
    succeeds; a failure becomes a notification (with `notify=False` and a `failed` callback, only
    `failed(exc)` runs: for periodic refreshes that show the error themselves). Workers in the
    same `group` are exclusive: a newer call cancels the older one, whose result is dropped.
    """

    def call_service(
        self,
        func: Callable[..., Any],
        *args: Any,
        done: Done | None = None,
        failed: Failed | None = None,
        group: str = "service",
        exclusive: bool = True,
        description: str = "",
        notify: bool = True,
        **kwargs: Any,
    ) -> Worker[Any]:
        node: DOMNode = self  # type: ignore[assignment]
        ctx = node.app.ctx  # type: ignore[attr-defined]
        if inspect.iscoroutinefunction(func):

            async def run_async() -> Any:
                return await func(ctx, *args, **kwargs)

            work: Callable[[], Any] = run_async
            thread = False
        else:

            def run_sync() -> Any:
                return func(ctx, *args, **kwargs)

            work = run_sync
            thread = True
        worker = node.run_worker(
            work,
            name=getattr(func, "__name__", "service"),
            group=group,
            description=description or getattr(func, "__name__", ""),
            exclusive=exclusive,
            thread=thread,
            exit_on_error=False,
        )
        callbacks: dict[Worker[Any], tuple[Done | None, Failed | None, str, bool]] = (
            self.__dict__.setdefault("_service_callbacks", {})
        )
        callbacks[worker] = (done, failed, description, notify)
        return worker

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        callbacks: dict[Worker[Any], tuple[Done | None, Failed | None, str, bool]] = (
            self.__dict__.setdefault("_service_callbacks", {})
        )
        worker = event.worker
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if worker not in callbacks:
            # A worker started some other way (`@work(exit_on_error=False)`): still never silent.
            if event.state == WorkerState.ERROR and worker.error is not None:
                notify_error(self, worker.error, worker.description or worker.name)  # type: ignore[arg-type]
            return
        done, failed, description, notify = callbacks.pop(worker)
        node: DOMNode = self  # type: ignore[assignment]
        if event.state == WorkerState.ERROR:
            exc = worker.error or RuntimeError("worker failed")
            if notify or failed is None:
                notify_error(node, exc, description)
            else:
                log.warning("%s failed: %s", description, exc)
            if failed is not None:
                self._safely(failed, exc, description)
        elif event.state == WorkerState.SUCCESS and done is not None:
            if not node.is_attached:
                return
            self._safely(done, worker.result, description)

    def _safely(self, callback: Callable[[Any], Any], value: Any, description: str) -> None:
        """A bug in a rendering callback becomes a notification, not a dead app."""
        try:
            callback(value)
        except Exception as exc:
            notify_error(self, exc, description or "update")  # type: ignore[arg-type]


class MailconsoleScreen(ServiceWorkers, Screen[None]):
    """Base of every top-level screen (one per mode).

    Subclasses set `SCREEN_TITLE`, yield their widgets from `compose_body()` and load data in
    `reload()` (called each time the screen is shown, and by the `r` binding).
    """

    SCREEN_TITLE: ClassVar[str] = ""
    AUTO_REFRESH: ClassVar[bool] = False
    """Reload every `app.refresh_seconds` while shown (call `loaded()` when a load ends)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", id="screen.refresh"),
    ]

    @property
    def ctx(self) -> AppContext:
        return self.app.ctx  # type: ignore[attr-defined,no-any-return]

    def compose(self) -> ComposeResult:
        yield AppHeader(self.SCREEN_TITLE)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> Iterable[Widget]:
        yield from ()

    def reload(self) -> None:
        """Load (or re-load) the screen's data through services; override."""

    def action_reload(self) -> None:
        self.reload()

    # --- auto-refresh: the next load is scheduled only when the current one has ended -------

    def loaded(self) -> None:
        """A load ended (success or failure): schedule the next one if this screen refreshes
        on its own. Refreshes never overlap, and none runs while another screen or a dialog is
        showing (showing this screen again reloads it)."""
        self.cancel_refresh()
        seconds = self.refresh_interval()
        if self.AUTO_REFRESH and seconds and self.is_attached:
            self.__dict__["_refresh_timer"] = self.set_timer(seconds, self._refresh_tick)

    def refresh_interval(self) -> float:
        """Seconds between auto-refreshes (0: none); a screen over a slow service may stretch it."""
        return float(getattr(self.app, "refresh_seconds", 0) or 0)

    def load(
        self,
        func: Callable[..., Any],
        *args: Any,
        done: Done,
        description: str = "",
        failed: Callable[[BaseException], Any] | None = None,
    ) -> Worker[Any]:
        """Load the screen's data: `done(result)` renders it; a failure is notified once per
        distinct message (not at every refresh) and passed to `failed`; either way the next
        refresh is scheduled. A reload while a load runs replaces it (an exclusive worker), so
        a change made meanwhile is never hidden by the older result."""
        self.cancel_refresh()

        def rendered(result: Any) -> None:
            self.__dict__["_last_load_error"] = None
            try:
                done(result)
            finally:
                self.loaded()

        def load_failed(exc: BaseException) -> None:
            message = describe_error(exc)[1]
            if self.__dict__.get("_last_load_error") != message:
                self.__dict__["_last_load_error"] = message
                notify_error(self, exc, description or self.SCREEN_TITLE)
            try:
                if failed is not None:
                    failed(exc)
            finally:
                self.loaded()

        return self.call_service(
            func,
            *args,
            done=rendered,
            failed=load_failed,
            group=f"load-{type(self).__name__}",
            description=description or self.SCREEN_TITLE,
            notify=False,
        )

    def cancel_refresh(self) -> None:
        timer = self.__dict__.pop("_refresh_timer", None)
        if timer is not None:
            timer.stop()

    def _refresh_tick(self) -> None:
        self.__dict__.pop("_refresh_timer", None)
        if self.app.screen is self:
            self.reload()

    @on(events.ScreenResume)
    def _mc_resumed(self) -> None:
        # Textual sends two ScreenResume events when a mode is first shown: load once.
        if self.__dict__.get("_mc_resume_pending"):
            return
        self.__dict__["_mc_resume_pending"] = True
        self.call_later(self._mc_shown)

    def _mc_shown(self) -> None:
        self.__dict__["_mc_resume_pending"] = False
        self.on_shown()

    def on_shown(self) -> None:
        """The screen became the active one (first show, mode switch, modal closed)."""
        self.reload()

    # --- mutating operations ---------------------------------------------------------------

    def confirm_then(
        self,
        title: str,
        body: str | Text,
        action: Callable[[], Any],
        *,
        danger: bool = False,
        confirm_label: str = "Confirm",
        typed: str | None = None,
    ) -> None:
        """Ask in a modal, then run `action()`.

        In read-only mode there is nothing to confirm: the action runs at once so the service
        refuses it (and audits the refusal) and the user reads why.
        """
        if self.ctx.is_read_only:
            self._run_guarded(action, title)
            return
        dialog: ConfirmDialog = (
            TypedConfirmDialog(title, body, typed, confirm_label=confirm_label)
            if typed is not None
            else ConfirmDialog(title, body, danger=danger, confirm_label=confirm_label)
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_guarded(action, title)

        self.app.push_screen(dialog, answered)

    def _run_guarded(self, action: Callable[[], Any], title: str) -> None:
        try:
            action()
        except Exception as exc:
            notify_error(self, exc, title.rstrip("?"))


__all__ = [
    "MailconsoleScreen",
    "ServiceWorkers",
    "describe_error",
    "notify_error",
]
