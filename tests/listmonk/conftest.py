"""Fixtures for the Listmonk tests: a seeded fake Listmonk on 127.0.0.1 sharing the test's fake
clock (so `send_at` checks and analytics windows agree), and a client bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from mailconsole.clock import FakeClock
from mailconsole.listmonk import ListmonkClient
from tests.fakes.listmonk_server import DefaultSeed, FakeListmonk


@pytest.fixture
def listmonk(clock: FakeClock) -> Iterator[FakeListmonk]:
    with FakeListmonk(clock=clock) as server:
        yield server


@pytest.fixture
def seed(listmonk: FakeListmonk) -> DefaultSeed:
    return listmonk.seed_default()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def client(listmonk: FakeListmonk, http: httpx.AsyncClient, clock: FakeClock) -> ListmonkClient:
    return ListmonkClient(
        listmonk.url, listmonk.api_user, listmonk.token, http, clock, account="listmonk-main"
    )
