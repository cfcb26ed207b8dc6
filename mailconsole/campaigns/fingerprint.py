"""The fingerprint of a campaign's reviewable content: what approvals are recorded against.

Approvals, consent checks and test sends hold for one version of a campaign. The version is the
sha256 of a canonical JSON of the fields a reviewer judges — subject, body, altbody, template,
target lists, headers and content type — so any edit of them in Listmonk (its UI, its API,
another tool) yields a new fingerprint and voids what was recorded for the old one.

Deliberately left out: `updated_at` (scheduling PUTs the campaign and moves it), `send_at`
(scheduling is not an edit), name and tags (internal labels), status and counters.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mailconsole.listmonk import Campaign

FINGERPRINT_FIELDS = (
    "subject",
    "body",
    "altbody",
    "template_id",
    "lists",
    "headers",
    "content_type",
)


def canonical_content(campaign: Campaign) -> dict[str, Any]:
    """The reviewed fields, normalised so equal content gives equal JSON.

    Lists are a set (their order in Listmonk's answer means nothing); headers keep their order
    (a mail client may care); a missing altbody and an empty one are the same.
    """
    return {
        "subject": campaign.subject,
        "body": campaign.body,
        "altbody": campaign.altbody or "",
        "template_id": campaign.template_id,
        "lists": sorted(set(campaign.list_ids)),
        "headers": [[str(k), str(v)] for header in campaign.headers for k, v in header.items()],
        "content_type": campaign.content_type,
    }


def fingerprint(campaign: Campaign) -> str:
    """sha256 (hex, 64 characters) of the canonical JSON of the campaign's reviewed content."""
    text = json.dumps(
        canonical_content(campaign), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def short(fp: str) -> str:
    """The first 12 hex digits: enough to tell versions apart on screen and in the audit log."""
    return fp[:12]
