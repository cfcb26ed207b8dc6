"""The consent check: may this campaign's audience receive marketing mail?

Two rules, both from the runbook:
1. every target list that is public must be double opt-in (a single opt-in public list holds
   addresses anyone could have typed in);
2. every subscriber the campaign would reach has the marketing attribute
   (`[listmonk] marketing_attribute`, default `marketing_opt_in`) set to true.

"Would reach" follows Listmonk: blocklisted subscribers and unsubscribed subscriptions are
skipped, and on a double opt-in list only confirmed subscriptions count. Subscribers are found
with Listmonk's subscriber query (an SQL expression), per target list, so the count is exact
whatever the list size; only a handful of addresses are kept as examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from mailconsole.listmonk import Campaign, ListmonkClient, MailingList, Subscriber, sql_quote
from mailconsole.services._readmodel import ReadModel

SAMPLES = 5


@dataclass(frozen=True)
class ListConsent(ReadModel):
    """One target list: its type and opt-in, and who on it lacks the attribute."""

    id: int
    name: str
    type: str
    optin: str
    optin_ok: bool  # false: a public list that is not double opt-in
    without_attribute: int
    exists: bool = True


@dataclass(frozen=True)
class ConsentResult(ReadModel):
    """What the check found for one campaign version. `problems` are the failures in words."""

    campaign_id: int
    campaign_name: str
    fingerprint: str
    attribute: str
    passed: bool
    lists: tuple[ListConsent, ...]
    without_attribute: int  # distinct subscribers the campaign would reach without it
    samples: tuple[str, ...]  # a few of their addresses (shown, never stored)
    problems: tuple[str, ...]
    checked_at: datetime

    def stored_detail(self) -> dict[str, object]:
        """What the review row keeps: counts and list names, no addresses."""
        return {
            "attribute": self.attribute,
            "without_attribute": self.without_attribute,
            "lists": [
                {
                    "id": lst.id,
                    "name": lst.name,
                    "type": lst.type,
                    "optin": lst.optin,
                    "optin_ok": lst.optin_ok,
                    "without_attribute": lst.without_attribute,
                }
                for lst in self.lists
            ],
            "problems": list(self.problems),
        }


def attribute_query(attribute: str) -> str:
    """Subscribers whose attribute is not JSON true, and who are not blocklisted."""
    value = f"subscribers.attribs->>{sql_quote(attribute)}"
    return f"({value} IS NULL OR {value} <> 'true') AND subscribers.status <> 'blocklisted'"


def _receives(sub: Subscriber, lst: MailingList) -> bool:
    """Whether Listmonk would send to `sub` through `lst` (see the module docstring)."""
    if sub.status == "blocklisted":
        return False
    for item in sub.lists:
        if item.id != lst.id:
            continue
        if item.subscription_status == "unsubscribed":
            return False
        if lst.optin == "double":
            return item.subscription_status == "confirmed"
        return True
    return False


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


async def evaluate_consent(
    client: ListmonkClient,
    campaign: Campaign,
    fingerprint: str,
    attribute: str,
    lists_by_id: Mapping[int, MailingList],
    now: datetime,
) -> ConsentResult:
    """Run both rules against Listmonk as it is now."""
    problems: list[str] = []
    results: list[ListConsent] = []
    everyone: dict[int, str] = {}
    query = attribute_query(attribute)
    if not campaign.lists:
        problems.append("the campaign has no target list")
    for ref in campaign.lists:
        lst = lists_by_id.get(ref.id)
        if lst is None:
            problems.append(f'target list "{ref.name}" (id {ref.id}) no longer exists')
            results.append(ListConsent(ref.id, ref.name, "?", "?", False, 0, exists=False))
            continue
        optin_ok = not (lst.is_public and not lst.is_double_optin)
        if not optin_ok:
            problems.append(
                f'public list "{lst.name}" is {lst.optin or "unknown"} opt-in: '
                "public lists must be double opt-in"
            )
        found = await client.subscribers(query=query, list_id=lst.id)
        lacking = [s for s in found if _receives(s, lst)]
        for sub in lacking:
            everyone[sub.id] = sub.email
        if lacking:
            problems.append(
                f'{_plural(len(lacking), "subscriber")} of "{lst.name}" without {attribute} = true'
            )
        results.append(ListConsent(lst.id, lst.name, lst.type, lst.optin, optin_ok, len(lacking)))
    samples = tuple(sorted(everyone.values())[:SAMPLES])
    return ConsentResult(
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        fingerprint=fingerprint,
        attribute=attribute,
        passed=not problems,
        lists=tuple(results),
        without_attribute=len(everyone),
        samples=samples,
        problems=tuple(problems),
        checked_at=now,
    )


def lists_index(lists: Sequence[MailingList]) -> dict[int, MailingList]:
    return {lst.id: lst for lst in lists}
