"""Untrusted text from the store (domains, error codes and messages, actors, reasons) is shown
literally: markup stays text, `[@click=…]` is no action, escape sequences become a placeholder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from mailconsole.app import MailconsoleApp
from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.sanitize import PLACEHOLDER
from mailconsole.store.models import AuditEvent, Message, Outage
from tests.console.support import notifications, screen_text, settle

MakeApp = Callable[..., MailconsoleApp]

MARKUP = "[red]x[/red]"
CLICK = "[@click=app.quit]y[/]"
BROKEN = "[/bold] z"
ESCAPE = "\x1b[31mred\x1b[0m"


def seed_hostile_rows(ctx: AppContext, clock: FakeClock) -> None:
    now = clock.now()
    with ctx.db.writing() as s:
        s.add(Message(created_at=now - timedelta(minutes=3), updated_at=now, status="queued",
                      from_addr="ops@example.com", to_addrs=f"a@{MARKUP}", subject=CLICK,
                      recipient_domain=MARKUP, attempts=1, next_attempt_at=now,
                      last_error_code=CLICK, last_error=ESCAPE))  # fmt: skip
        s.add(Outage(backend="sandbox-main", kind="transient", started_at=now - timedelta(hours=1),
                     ended_at=now - timedelta(minutes=30), first_error_code=MARKUP,
                     first_error=f"{ESCAPE} {BROKEN} {CLICK}"))  # fmt: skip
        s.add(AuditEvent(at=now - timedelta(minutes=1), actor=f"mallory{MARKUP}", action="pause",
                         target={"backend": CLICK}, reason=BROKEN, outcome="ok",
                         detail=ESCAPE))  # fmt: skip


async def test_markup_and_escapes_from_the_store_are_shown_literally(
    console_ctx: AppContext, clock: FakeClock, make_app: MakeApp
) -> None:
    seed_hostile_rows(console_ctx, clock)
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        dashboard = screen_text(app)
        assert f"{MARKUP} " in dashboard  # the outage's first error code
        assert f"{PLACEHOLDER}[31mred" in dashboard
        assert "\x1b" not in app.export_screenshot()

        await pilot.press("q")
        await settle(pilot)
        queue = screen_text(app)
        assert MARKUP in queue and CLICK in queue

        # Clicking the would-be action does nothing but select a row.
        line = next(i for i, text in enumerate(queue.splitlines()) if CLICK in text)
        await pilot.click(offset=(queue.splitlines()[line].index(CLICK) + 3, line))
        await settle(pilot)
        assert app.is_running

        await pilot.press("p")
        await settle(pilot)
        providers = screen_text(app)
        assert BROKEN in providers and CLICK in providers and f"{PLACEHOLDER}[31mred" in providers

        await pilot.press("u")
        await settle(pilot)
        audit_text = screen_text(app)
        assert f"mallory{MARKUP}" in audit_text
        assert BROKEN in audit_text and CLICK in audit_text
        assert app.is_running
        assert not [n for n in notifications(app) if "rror" in n]
