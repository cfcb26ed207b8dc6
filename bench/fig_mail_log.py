"""Mail-log pages (keyset) on the incident dataset: the first page and one 500,000 rows deep.

Engine: `services.logs.page_messages(ctx, flt, cursor=…, limit=200)` — what the Mail logs screen
and `logs list` call — without a filter, with `status:delivered`, and with `domain:gmail.com`
(both match more than 500,000 of the 1,000,000 messages).
The deep cursor: the keyset position of row 500,000 of the filtered order, computed with one
query (`SELECT created_at, id … WHERE <the filter's conditions> ORDER BY created_at DESC, id DESC
LIMIT 1 OFFSET 499999`, not timed); the deep page is the 200 rows after it, which is what a user
reaches by paging (each page's last row is the next cursor), without walking 2,500 pages.
Baseline: the same query's first page. Figure: medians of `quick_runs` calls after a warm-up;
targets: deep page ≤ 2 × first page, and each ≤ 30 ms.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bench.common import Result, Sizes, log, median, repeat_pair_ms
from bench.engine_setup import incident_config, make_ctx

PAGE = 200
FILTERS = ("", "status:delivered", "domain:gmail.com")


def deep_cursor(ctx: Any, flt: Any, depth: int) -> Any:
    from mailconsole.services.filters import conditions
    from mailconsole.services.logs import NEWEST_FIRST, Cursor
    from mailconsole.store.models import Message

    stmt = (
        select(Message.created_at, Message.id)
        .where(*conditions(flt))
        .order_by(*NEWEST_FIRST)
        .offset(depth - 1)
        .limit(1)
    )
    with ctx.db.reading() as s:
        row = s.execute(stmt).one()
    return Cursor(created_at=row[0], id=row[1])


def run(sizes: Sizes, url: str) -> list[Result]:
    from mailconsole.services.filters import parse_filter
    from mailconsole.services.logs import page_messages

    ctx = make_ctx(url, incident_config())
    results = []
    for text in FILTERS:
        flt = parse_filter(text, ctx.clock.now())
        cursor = deep_cursor(ctx, flt, sizes.deep_rows)
        deep = page_messages(ctx, flt, cursor=cursor, limit=PAGE)
        assert len(deep.rows) == PAGE and deep.rows[0].id != cursor.id, "deep page is short"
        firsts, deeps = repeat_pair_ms(
            lambda f=flt: page_messages(ctx, f, limit=PAGE),
            lambda f=flt, c=cursor: page_messages(ctx, f, cursor=c, limit=PAGE),
            sizes.quick_runs,
        )
        first_ms, deep_ms = median(firsts), median(deeps)
        ratio = deep_ms / first_ms
        name = text or "no filter"
        log(f"{name}: first page {first_ms:.1f} ms, {sizes.deep_rows:,} rows deep {deep_ms:.1f} ms")
        results.append(
            Result(
                figure="mail_log",
                label=f"mail-log page {sizes.deep_rows:,} rows deep, {name}",
                value=deep_ms,
                unit="ms",
                baseline=first_ms,
                baseline_label="same query, first page",
                ratio=ratio,
                target="deep ≤ 2× first; each ≤ 30 ms",
                passed=ratio <= 2.0 and deep_ms <= 30.0 and first_ms <= 30.0,
                details={"first_ms": first_ms, "deep_ms": deep_ms, "page": PAGE},
            )
        )
    ctx.db.dispose()
    return results
