"""Fixtures for the backend tests: the fake provider servers on 127.0.0.1 and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.fakes.postmark_server import FakePostmark
from tests.fakes.smtp_server import FakeSmtp


@pytest.fixture
def postmark_server() -> Iterator[FakePostmark]:
    with FakePostmark() as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
