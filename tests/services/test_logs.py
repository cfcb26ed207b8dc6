"""The mail log: keyset pages, counts, the detail timeline, and streaming iteration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.errors import NotFoundError
from mailconsole.services.filters import MessageFilter, parse_filter
from mailconsole.services.logs import (
    count_messages,
    iter_messages,
    message_detail,
    oldest_page,
    page_messages,
)
from mailconsole.store.models import DeliveryEvent
from tests.services.factory import add_attempt, add_message


def _seed(ctx: AppContext, clock: FakeClock, n: int) -> list[int]:
    """n messages, several sharing a created_at (ties broken by id)."""
    base = clock.now() - timedelta(hours=1)
    return [
        add_message(
            ctx,
            created_at=base + timedelta(seconds=i // 3),
            subject=f"m{i}",
            status="dead" if i % 2 else "sent",
        )
        for i in range(n)
    ]


def test_keyset_paging_returns_every_row_exactly_once_forward_and_backward(
    ctx: AppContext, clock: FakeClock
) -> None:
    ids = _seed(ctx, clock, 23)
    expected = sorted(ids, reverse=True)  # ties on created_at are ordered by id
    seen: list[int] = []
    page = page_messages(ctx, MessageFilter(), limit=5)
    assert not page.has_newer
    while True:
        seen.extend(r.id for r in page.rows)
        if not page.has_more:
            break
        page = page_messages(ctx, MessageFilter(), cursor=page.last_cursor, limit=5)
    assert seen == expected
    assert page.has_newer and not page.has_older

    back: list[int] = []
    page = oldest_page(ctx, MessageFilter(), limit=5)
    assert [r.id for r in page.rows] == expected[-5:]  # newest first even at the end
    while True:
        back = [r.id for r in page.rows] + back
        if not page.has_more:
            break
        page = page_messages(
            ctx, MessageFilter(), cursor=page.first_cursor, direction="newer", limit=5
        )
    assert back == expected


def test_paging_honours_the_filter_and_count_agrees(ctx: AppContext, clock: FakeClock) -> None:
    _seed(ctx, clock, 20)
    flt = MessageFilter(statuses=("dead",))
    rows = list(iter_messages(ctx, flt, chunk=3))
    assert len(rows) == 10 == count_messages(ctx, flt)
    assert all(r.status == "dead" for r in rows)
    assert len({r.id for r in rows}) == 10


def test_search_http_5_finds_every_5xx_and_nothing_else(ctx: AppContext) -> None:
    wanted = {
        add_message(ctx, status="dead", error_code="http_503"),
        add_message(ctx, status="dead", error_code="http_500"),
    }
    add_message(ctx, status="dead", error_code="http_429")
    add_message(ctx, status="dead", error_code="smtp_550")
    found = {r.id for r in iter_messages(ctx, MessageFilter(search="http_5"))}
    assert found == wanted
    by_prefix = {r.id for r in iter_messages(ctx, MessageFilter(error_code="http_5"))}
    assert by_prefix == wanted


def test_search_matches_subject_recipients_error_and_provider_id(
    ctx: AppContext, clock: FakeClock
) -> None:
    a = add_message(ctx, subject="Your Invoice 42")
    b = add_message(ctx, to="zoe+news@example.org")
    c = add_message(ctx, status="dead", error="Mailbox FULL")
    d = add_message(ctx, status="sent", provider_message_id="pm-abc-123")
    add_message(ctx, subject="other")
    for word, expected in (("invoice", a), ("zoe+news", b), ("mailbox full", c), ("abc-123", d)):
        flt = parse_filter(word, clock.now())
        assert [r.id for r in iter_messages(ctx, flt)] == [expected], word


def test_message_detail_shows_body_timeline_and_replay_links(
    ctx: AppContext, clock: FakeClock
) -> None:
    src = add_message(ctx, status="dead", text="plain", html="<p>x</p>", headers={"X-Ticket": "9"})
    add_attempt(ctx, src, outcome="transient", error_code="http_503", attempt_no=1)
    clock.advance(60)
    add_attempt(ctx, src, outcome="permanent", error_code="provider_reject", attempt_no=2)
    with ctx.db.writing() as s:
        s.add(
            DeliveryEvent(
                message_id=src,
                event_type="bounced",
                occurred_at=clock.now(),
                received_at=clock.now(),
                detail="hard bounce",
            )
        )
    copy = add_message(ctx, replay_of=src)
    detail = message_detail(ctx, src)
    assert detail.body is not None and detail.body.headers == {"X-Ticket": "9"}
    assert [a.error_code for a in detail.attempts] == ["http_503", "provider_reject"]
    assert [e.type for e in detail.events] == ["bounced"]
    assert [r.id for r in detail.replays] == [copy]
    assert message_detail(ctx, copy).replay_source.id == src  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        message_detail(ctx, 999_999)
