"""Dead letters grouped by what killed them, for the Dead letters screen and its group actions.

One GROUP BY over `message` where status = dead (the `ix_message_error_code` and
`ix_message_status_created` indexes), so it stays fast at millions of rows: nothing but the
groups leaves the database. Each group carries the `MessageFilter` that selects exactly its
messages, so "retry this group" or "open it in Mail logs" act on the database filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select

from mailconsole.clock import ensure_utc
from mailconsole.context import AppContext
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.filters import MessageFilter
from mailconsole.store.models import Message, MessageStatus

GroupBy = tuple[Literal["error_code"]] | tuple[Literal["error_code"], Literal["domain"]]
BY_CODE: GroupBy = ("error_code",)
BY_CODE_AND_DOMAIN: GroupBy = ("error_code", "domain")
DEAD = MessageStatus.DEAD.value


@dataclass(frozen=True)
class DeadLetterGroup(ReadModel):
    """Dead messages sharing an error code (and a recipient domain when grouped by both).

    `oldest` / `newest` are when the first and last of them went dead (their `updated_at`);
    `sample_error` is one provider error message from the group, untrusted text.
    """

    error_code: str | None
    domain: str | None
    count: int
    oldest: datetime | None
    newest: datetime | None
    sample_error: str | None
    backends: int

    @property
    def filter(self) -> MessageFilter | None:
        """The filter that selects exactly this group (None for messages without an error code,
        which the filter language cannot single out)."""
        if self.error_code is None:
            return None
        return MessageFilter(statuses=(DEAD,), error_code=self.error_code, domain=self.domain)

    @property
    def label(self) -> str:
        code = self.error_code or "(no error code)"
        return f"{code} @ {self.domain}" if self.domain else code


def dead_letter_groups(
    ctx: AppContext, by: GroupBy = BY_CODE, *, limit: int = 500
) -> list[DeadLetterGroup]:
    """The dead letters grouped by error code (and domain), largest groups first."""
    by_domain = tuple(by) == BY_CODE_AND_DOMAIN
    if tuple(by) not in (BY_CODE, BY_CODE_AND_DOMAIN):
        raise ValueError(f"group by {by!r}: use ('error_code',) or ('error_code', 'domain')")
    keys = [Message.last_error_code]
    if by_domain:
        keys.append(Message.recipient_domain)  # type: ignore[arg-type]
    count = func.count()
    stmt = (
        select(
            *keys,
            count.label("n"),
            func.min(Message.updated_at),
            func.max(Message.updated_at),
            func.max(Message.last_error),
            func.count(func.distinct(Message.backend)),
        )
        .where(Message.status == DEAD)
        .group_by(*keys)
        .order_by(count.desc(), *keys)
        .limit(limit)
    )
    groups: list[DeadLetterGroup] = []
    with ctx.db.reading() as session:
        for row in session.execute(stmt):
            if by_domain:
                code, domain, n, oldest, newest, sample, backends = row
            else:
                code, n, oldest, newest, sample, backends = row
                domain = None
            groups.append(
                DeadLetterGroup(
                    error_code=code,
                    domain=domain,
                    count=int(n),
                    oldest=_utc(oldest),
                    newest=_utc(newest),
                    sample_error=sample,
                    backends=int(backends or 0),
                )
            )
    return groups


def _utc(value: datetime | str | None) -> datetime | None:
    """MIN/MAX over a SQLite column come back as the stored (naive UTC) string."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return ensure_utc(value)


__all__ = ["BY_CODE", "BY_CODE_AND_DOMAIN", "DeadLetterGroup", "GroupBy", "dead_letter_groups"]
