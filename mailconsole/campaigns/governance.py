"""The governance checklist of one campaign version: what holds, what is missing, and the exact
words of a refusal.

Pure functions over a campaign's current fingerprint and its recorded reviews, so the table, the
detail pane, `campaigns show` and the schedule/start gate all say the same thing. A review holds
only for the fingerprint it was recorded against; a positive one recorded for an older version
shows as "voided by edit".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailconsole.campaigns.reviews import KINDS, ReviewView
from mailconsole.sanitize import clean
from mailconsole.services._readmodel import ReadModel

LABELS = {
    "legal": "Legal/privacy approval",
    "brand": "Brand approval",
    "consent": "Consent check",
    "test_send": "Test send",
}
# States of one checklist item.
OK, MISSING, REJECTED, FAILED, VOIDED = "ok", "missing", "rejected", "failed", "voided"
MARKS = {OK: "✓", MISSING: "—", REJECTED: "✗", FAILED: "✗", VOIDED: "void"}
NOTE_CHARS = 80


def utc_minute(when: datetime | None) -> str:
    """`2026-11-20 10:04 UTC`: how refusals and the CLI name a moment."""
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "an unknown time"


def _note(text: str | None) -> str:
    """A reviewer's note quoted in a one-line message: controls made visible, kept short."""
    value = clean(text or "", one_line=True).strip()
    if len(value) > NOTE_CHARS:
        value = value[: NOTE_CHARS - 1] + "…"
    return value


@dataclass(frozen=True)
class CheckItem(ReadModel):
    """One line of the checklist.

    `review` is the latest review of this kind for the current version, if any; `older` the
    latest one for an earlier version (when there is none for this one).
    """

    kind: str
    label: str
    state: str  # ok | missing | rejected | failed | voided
    review: ReviewView | None
    older: ReviewView | None

    @property
    def ok(self) -> bool:
        return self.state == OK

    @property
    def mark(self) -> str:
        return MARKS[self.state]

    def summary(self) -> str:
        """What holds or is missing, in words, for the detail pane and `campaigns show`."""
        r = self.review
        if r is not None:
            by = f"by {r.actor} at {utc_minute(r.at)}"
            note = f": {_note(r.note)}" if r.note else ""
            if self.kind in ("legal", "brand"):
                verb = "approved" if r.decision == "approved" else "REJECTED"
                return f"{verb} {by}{note}"
            if self.kind == "consent":
                if r.decision == "passed":
                    return f"passed {by}"
                return f"FAILED {by}: {consent_problems_text(r)}"
            recipients = (r.detail or {}).get("recipients")
            where = (r.detail or {}).get("list")
            to = f" to {recipients} tester(s) on {where}" if recipients is not None else ""
            return f"sent{to} {by}"
        if self.state == VOIDED and self.older is not None:
            return (
                f"voided by edit ({self.older.decision} by {self.older.actor} at "
                f"{utc_minute(self.older.at)} for an older version)"
            )
        if self.older is not None:
            return f"missing ({self.older.decision} by {self.older.actor} for an older version)"
        return "missing"


def consent_problems_text(review: ReviewView) -> str:
    problems = (review.detail or {}).get("problems") or []
    return "; ".join(str(p) for p in problems) or "see the consent check"


@dataclass(frozen=True)
class Governance(ReadModel):
    """The checklist of one campaign version."""

    campaign_id: int
    fingerprint: str | None  # None: not computed (no review yet, the body was not fetched)
    edited_at: datetime | None  # the campaign's updated_at, for "edited …" in refusals
    items: tuple[CheckItem, ...]

    @property
    def ready(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def voided(self) -> bool:
        return any(item.state == VOIDED for item in self.items)

    def item(self, kind: str) -> CheckItem:
        return next(i for i in self.items if i.kind == kind)

    def missing(self) -> list[str]:
        """What stops a send, in checklist order, each as a short clause."""
        edited = f"edited {utc_minute(self.edited_at)}"
        out: list[str] = []
        for item in self.items:
            if item.ok:
                continue
            r = item.review
            if item.kind in ("legal", "brand"):
                if item.state == REJECTED and r is not None:
                    note = f': "{_note(r.note)}"' if r.note else ""
                    out.append(f"{item.kind} rejected this version ({r.actor}{note})")
                elif item.state == VOIDED:
                    out.append(f"{item.kind} approval was for an older version ({edited})")
                else:
                    out.append(f"missing {item.kind} approval")
            elif item.kind == "consent":
                if item.state == FAILED and r is not None:
                    out.append(
                        f"consent check failed for this version ({consent_problems_text(r)})"
                    )
                else:
                    out.append("no consent check for this version")
            else:
                out.append("no test send for this version")
        return out

    def refusal(self, verb: str) -> str:
        """`cannot schedule campaign 12: missing legal approval; …`"""
        return f"cannot {verb} campaign {self.campaign_id}: " + "; ".join(self.missing())

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(ready=self.ready, voided=self.voided, missing=self.missing())
        for out, item in zip(data["items"], self.items, strict=True):
            out.update(ok=item.ok, summary=item.summary())
        return data

    def approval_state(self) -> str:
        """One compact cell: `legal ✓ brand void consent ✗ test —`."""
        short = {"legal": "legal", "brand": "brand", "consent": "consent", "test_send": "test"}
        return " ".join(f"{short[i.kind]} {i.mark}" for i in self.items)


def governance(
    campaign_id: int,
    fingerprint: str | None,
    reviews: Sequence[ReviewView],
    edited_at: datetime | None = None,
) -> Governance:
    """The checklist for the version `fingerprint`, from the campaign's reviews (oldest first)."""
    items: list[CheckItem] = []
    for kind in KINDS:
        rows = [r for r in reviews if r.kind == kind]
        current = [r for r in rows if r.fingerprint == fingerprint]
        if current:
            latest = current[-1]
            if latest.positive:
                state = OK
            elif kind == "consent":
                state = FAILED
            else:
                state = REJECTED
            items.append(CheckItem(kind, LABELS[kind], state, latest, None))
            continue
        older = rows[-1] if rows else None
        state = VOIDED if older is not None and older.positive else MISSING
        items.append(CheckItem(kind, LABELS[kind], state, None, older))
    return Governance(campaign_id, fingerprint, edited_at, tuple(items))
