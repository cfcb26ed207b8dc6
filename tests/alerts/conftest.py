from __future__ import annotations

import pytest

from tests.alerts.factory import Recorder, install_hooks


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The `record` hook: every notice delivered to notifier `rec` lands in `recorder.payloads`."""
    rec = Recorder()
    install_hooks(monkeypatch, record=rec)
    return rec
