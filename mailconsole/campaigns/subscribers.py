"""The runbook's subscriber helpers: a subscriber's bounces (list, clear) and importing
subscribers from a CSV through Listmonk's import API, following its progress.

Clearing bounces matters after a provider incident: Listmonk blocklists subscribers once their
bounces pass its threshold, so bounces caused by the incident (not by the address) are cleared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mailconsole.campaigns.runner import with_client
from mailconsole.context import AppContext
from mailconsole.errors import BackendError, NotFoundError, ValidationError
from mailconsole.listmonk import Bounce, ImportStatus, ListmonkClient, Subscriber
from mailconsole.listmonk.client import IMPORT_MODES
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.audit import operation

MAX_IMPORT_BYTES = 50 * 1024 * 1024
LOG_TAIL = 20

ProgressCallback = Callable[[ImportStatus], None]


@dataclass(frozen=True)
class BounceView(ReadModel):
    id: int
    type: str  # soft | hard | complaint
    source: str
    campaign_id: int | None
    campaign: str | None
    created_at: datetime | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class SubscriberBounces(ReadModel):
    email: str
    subscriber_id: int
    status: str  # enabled | disabled | blocklisted
    bounces: tuple[BounceView, ...]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.bounces:
            out[b.type] = out.get(b.type, 0) + 1
        return out


@dataclass(frozen=True)
class ImportResult(ReadModel):
    file: str
    lists: tuple[str, ...]
    mode: str
    status: str  # finished | failed | stopped
    total: int
    imported: int
    log_tail: tuple[str, ...]


def _email(value: str) -> str:
    email = (value or "").strip().lower()
    if "@" not in email or len(email) > 320:
        raise ValidationError(f"{value!r} is not an email address")
    return email


def _bounce_view(b: Bounce) -> BounceView:
    return BounceView(
        b.id, b.type, b.source, b.campaign_id, b.campaign_name, b.created_at, dict(b.meta)
    )


async def _subscriber(client: ListmonkClient, email: str) -> Subscriber:
    sub = await client.subscriber_by_email(email)
    if sub is None:
        raise NotFoundError(f"no subscriber {email} in Listmonk: check the address")
    return sub


def subscriber_bounces(ctx: AppContext, email: str) -> SubscriberBounces:
    """The bounces Listmonk holds for one subscriber, oldest first."""
    address = _email(email)

    async def work(client: ListmonkClient) -> SubscriberBounces:
        sub = await _subscriber(client, address)
        rows = await client.bounces(subscriber_id=sub.id)
        return SubscriberBounces(
            sub.email, sub.id, sub.status, tuple(_bounce_view(b) for b in rows)
        )

    return with_client(ctx, work)


def clear_bounces(ctx: AppContext, email: str, reason: str | None = None) -> int:
    """Delete every bounce of one subscriber; returns how many there were."""
    address = _email(email)
    target: dict[str, Any] = {"address": address}
    with operation(ctx, "subscriber.clear_bounces", target=target, reason=reason) as rec:

        async def work(client: ListmonkClient) -> int:
            sub = await _subscriber(client, address)
            target["subscriber_id"] = sub.id
            count = len(await client.bounces(subscriber_id=sub.id))
            if count:
                await client.delete_subscriber_bounces(sub.id)
            return count

        rec.count = with_client(ctx, work)
    return rec.count


def import_subscribers(
    ctx: AppContext,
    csv_path: str | Path,
    list_names: Sequence[str],
    mode: str = "subscribe",
    progress_callback: ProgressCallback | None = None,
    *,
    overwrite: bool = False,
    delimiter: str = ",",
    poll_seconds: float = 1.0,
    reason: str | None = None,
) -> ImportResult:
    """Import a CSV (Listmonk's format: email, name, attributes) into the named lists, and
    follow the import until it ends, reporting each poll to `progress_callback`."""
    path = Path(csv_path)
    names = tuple(dict.fromkeys(n.strip() for n in list_names if n and n.strip()))
    if mode not in IMPORT_MODES:
        raise ValidationError(f"import mode {mode!r}: use subscribe or blocklist")
    target: dict[str, Any] = {"file": path.name, "lists": list(names), "mode": mode}
    with operation(ctx, "subscriber.import", target=target, reason=reason) as rec:
        if mode == "subscribe" and not names:
            raise ValidationError("name at least one list to import into: --list NAME")
        try:
            size = path.stat().st_size
            if size > MAX_IMPORT_BYTES:
                raise ValidationError(
                    f"{path.name} is {size // (1024 * 1024)} MB: split it under "
                    f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB"
                )
            data = path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None

        async def work(client: ListmonkClient) -> ImportResult:
            known = {lst.name: lst for lst in await client.lists()}
            missing = [n for n in names if n not in known]
            if missing:
                have = ", ".join(sorted(known)) or "none"
                raise ValidationError(
                    f"no list named {', '.join(repr(m) for m in missing)} in Listmonk "
                    f"(lists: {have})"
                )
            current = await client.import_status()
            if current.running:
                raise BackendError(
                    f"an import is already running in Listmonk ({current.name}: "
                    f"{current.imported}/{current.total}): wait for it to finish"
                )
            status = await client.import_subscribers(
                data,
                mode=mode,
                list_ids=[known[n].id for n in names],
                delimiter=delimiter,
                overwrite=overwrite,
                filename=path.name,
            )
            if progress_callback is not None:
                progress_callback(status)
            last = status
            if status.running:
                async for polled in client.follow_import(interval_seconds=poll_seconds):
                    last = polled
                    if progress_callback is not None:
                        progress_callback(polled)
            log = (await client.import_logs()).splitlines()
            return ImportResult(
                path.name, names, mode, last.status, last.total, last.imported,
                tuple(log[-LOG_TAIL:]),
            )  # fmt: skip

        result = with_client(ctx, work)
        rec.count = result.imported
        if result.status != "finished":
            why = result.log_tail[-1] if result.log_tail else "no log"
            raise BackendError(
                f"the import of {path.name} ended {result.status} after {result.imported} of "
                f"{result.total} records: {why}"
            )
    return result
