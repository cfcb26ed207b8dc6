"""Campaign governance for Listmonk: approvals against a content fingerprint, the consent check,
test sends, gated schedule/start, ungated pause/cancel, the post-send scorecard, and the
subscriber helpers (bounces, imports). The interfaces call `service` (reads come from
`listing`) and `subscribers`; all are sync and reach Listmonk through `runner`.
"""

from __future__ import annotations

from mailconsole.campaigns.consent import ConsentResult, ListConsent
from mailconsole.campaigns.errors import CampaignNotReadyError, CampaignStateError
from mailconsole.campaigns.fingerprint import fingerprint
from mailconsole.campaigns.governance import CheckItem, Governance
from mailconsole.campaigns.reviews import KINDS, ROLES, ReviewView
from mailconsole.campaigns.scorecard import Scorecard

__all__ = [
    "KINDS",
    "ROLES",
    "CampaignNotReadyError",
    "CampaignStateError",
    "CheckItem",
    "ConsentResult",
    "Governance",
    "ListConsent",
    "ReviewView",
    "Scorecard",
    "fingerprint",
]
