from __future__ import annotations

import pytest

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.store.db import Database
from tests.services.factory import make_ctx


@pytest.fixture
def ctx(db: Database, clock: FakeClock) -> AppContext:
    return make_ctx(db, clock)
