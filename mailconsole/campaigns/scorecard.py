"""The post-send scorecard: sent, views, clicks and bounces of a campaign over its window, with
rates, as a table, JSON or a spreadsheet-safe CSV.

The window runs from the campaign's start (`started_at`, else its creation) to `until` or now.
Views, clicks and bounces come from Listmonk's analytics endpoints (daily counts), so the
numbers match Listmonk's own analytics page for the same window. Rates are over `sent`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from mailconsole.listmonk import AnalyticsCount, Campaign
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.export import neutralize_cell

CSV_FIELDS = (
    "campaign_id",
    "campaign",
    "subject",
    "status",
    "window_start",
    "window_end",
    "to_send",
    "sent",
    "views",
    "clicks",
    "bounces",
    "view_rate",
    "click_rate",
    "bounce_rate",
)


@dataclass(frozen=True)
class ScoreDay(ReadModel):
    day: date
    views: int
    clicks: int
    bounces: int


@dataclass(frozen=True)
class Scorecard(ReadModel):
    campaign_id: int
    campaign: str
    subject: str
    status: str
    window_start: datetime
    window_end: datetime
    to_send: int
    sent: int
    views: int
    clicks: int
    bounces: int
    view_rate: float | None  # views ÷ sent; None before anything was sent
    click_rate: float | None
    bounce_rate: float | None
    days: tuple[ScoreDay, ...]

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["days"] = [
            {"day": d.day.isoformat(), "views": d.views, "clicks": d.clicks, "bounces": d.bounces}
            for d in self.days
        ]
        return data

    def csv_row(self) -> list[str]:
        values: dict[str, Any] = {
            "campaign_id": self.campaign_id,
            "campaign": self.campaign,
            "subject": self.subject,
            "status": self.status,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "to_send": self.to_send,
            "sent": self.sent,
            "views": self.views,
            "clicks": self.clicks,
            "bounces": self.bounces,
            "view_rate": _rate_cell(self.view_rate),
            "click_rate": _rate_cell(self.click_rate),
            "bounce_rate": _rate_cell(self.bounce_rate),
        }
        return [neutralize_cell(values[name]) for name in CSV_FIELDS]


def _rate_cell(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def rate(count: int, sent: int) -> float | None:
    return count / sent if sent > 0 else None


def window_start(campaign: Campaign, fallback: datetime) -> datetime:
    return campaign.started_at or campaign.created_at or fallback


def build_scorecard(
    campaign: Campaign,
    start: datetime,
    end: datetime,
    views: Sequence[AnalyticsCount],
    clicks: Sequence[AnalyticsCount],
    bounces: Sequence[AnalyticsCount],
) -> Scorecard:
    """Sum the daily counts of this campaign (the endpoints may answer for several)."""
    by_day: dict[date, list[int]] = {}

    def add(rows: Sequence[AnalyticsCount], index: int) -> int:
        total = 0
        for row in rows:
            if row.campaign_id not in (campaign.id, 0):
                continue
            total += row.count
            if row.timestamp is not None:
                by_day.setdefault(row.timestamp.date(), [0, 0, 0])[index] += row.count
        return total

    n_views, n_clicks, n_bounces = add(views, 0), add(clicks, 1), add(bounces, 2)
    return Scorecard(
        campaign_id=campaign.id,
        campaign=campaign.name,
        subject=campaign.subject,
        status=campaign.status,
        window_start=start,
        window_end=end,
        to_send=campaign.to_send,
        sent=campaign.sent,
        views=n_views,
        clicks=n_clicks,
        bounces=n_bounces,
        view_rate=rate(n_views, campaign.sent),
        click_rate=rate(n_clicks, campaign.sent),
        bounce_rate=rate(n_bounces, campaign.sent),
        days=tuple(ScoreDay(day, *counts) for day, counts in sorted(by_day.items())),
    )


def write_csv(cards: Sequence[Scorecard], out: TextIO) -> int:
    """One row per campaign, every field quoted, formula-looking cells neutralised."""
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for card in cards:
        writer.writerow(card.csv_row())
    return len(cards)


def write_json(cards: Sequence[Scorecard], out: TextIO) -> int:
    json.dump([c.to_dict() for c in cards], out, indent=2, ensure_ascii=False)
    out.write("\n")
    return len(cards)
