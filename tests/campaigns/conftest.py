"""Campaign governance fixtures: a seeded fake Listmonk on 127.0.0.1 sharing the test's fake
clock, and an AppContext whose Listmonk account points at it (token from the environment)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mailconsole.clock import FakeClock
from mailconsole.config import Config
from mailconsole.context import Actor, AppContext
from mailconsole.secrets import env_var_for
from mailconsole.store.db import Database
from mailconsole.store.models import AuditEvent, CampaignReview
from tests.conftest import make_config
from tests.fakes.listmonk_server import DEFAULT_TOKEN, DefaultSeed, FakeListmonk

ACCOUNT = "listmonk-main"


def listmonk_config(url: str, **sections: Any) -> Config:
    base: dict[str, Any] = {
        "accounts": {
            ACCOUNT: {"type": "listmonk", "base_url": url, "api_user": "mailconsole"},
        },
        "listmonk": {"account": ACCOUNT},
    }
    base.update(sections)
    return make_config(**base)


def make_ctx(
    db: Database, clock: FakeClock, fake: FakeListmonk, *, actor: str = "ana", **flags: Any
) -> AppContext:
    return AppContext(
        config=listmonk_config(fake.url),
        db=db,
        clock=clock,
        actor=Actor(actor, interface="cli"),
        **flags,
    )


@pytest.fixture
def listmonk(clock: FakeClock) -> Iterator[FakeListmonk]:
    with FakeListmonk(clock=clock) as server:
        yield server


@pytest.fixture
def seed(listmonk: FakeListmonk) -> DefaultSeed:
    return listmonk.seed_default()


@pytest.fixture(autouse=True)
def listmonk_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The account's token, as a headless host gives it: from the environment."""
    monkeypatch.setenv(env_var_for(ACCOUNT), DEFAULT_TOKEN)


@pytest.fixture
def ctx(sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk) -> AppContext:
    return make_ctx(sqlite_db, clock, listmonk)


def audit_rows(db: Database) -> list[AuditEvent]:
    with db.reading() as s:
        return list(s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())


def review_rows(db: Database) -> list[CampaignReview]:
    with db.reading() as s:
        return list(s.execute(select(CampaignReview).order_by(CampaignReview.id)).scalars())


def opt_in_everyone(fake: FakeListmonk) -> None:
    """Give every seeded subscriber marketing_opt_in = true (what a clean-up would do), so the
    happy-path campaign passes the attribute rule."""
    with fake.lock:
        for sub in fake.subscribers.values():
            sub["attribs"]["marketing_opt_in"] = True
