"""Why a campaign action cannot run, as one line that says what to do."""

from __future__ import annotations

from mailconsole.errors import MailconsoleError


class CampaignNotReadyError(MailconsoleError):
    """Schedule or start refused: the governance checklist does not hold for this version.

    The message names every missing item, e.g. `cannot schedule campaign 12: missing legal
    approval; no test send for this version`.
    """

    title = "Campaign not ready"
    exit_code = 3


class CampaignStateError(MailconsoleError):
    """The campaign's status does not allow the move (pause a draft, start a finished one…)."""

    title = "Not possible in this status"
    exit_code = 1
