"""A notifier that times out or answers 500 delays neither the other notifiers nor dispatch."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from mailconsole.alerts.notifiers import DeliveryResult
from mailconsole.alerts.service import evaluate, evaluate_async, history
from mailconsole.clock import FakeClock
from mailconsole.engine.enqueue import enqueue
from mailconsole.store.db import Database
from tests.alerts.factory import Recorder, add_attempts, alert_config, install_hooks, make_ctx

RULE = {
    "failure_rate": {
        "metric": "failure_rate_24h",
        "threshold": 0.1,
        "notify": ["stuck", "broken", "good"],
    }
}


def notifiers(url: str, *, stuck_timeout: float) -> dict[str, Any]:
    return {
        "stuck": {"type": "hook", "hook": "hang", "timeout_seconds": stuck_timeout, "tries": 1},
        "broken": {"type": "webhook", "url": url, "tries": 3},
        "good": {"type": "hook", "hook": "record"},
    }


def test_a_hanging_and_a_failing_notifier_do_not_hold_up_the_good_one(
    db: Database,
    clock: FakeClock,
    httpserver: HTTPServer,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    hang_started = threading.Event()

    def hang(payload: Any) -> None:  # a blocking hook stuck on a dead host
        hang_started.set()
        release.wait(30)

    install_hooks(monkeypatch, hang=hang, record=recorder)
    monkeypatch.setenv("MAILCONSOLE_SECRET_BROKEN", "s3cret")
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    config = alert_config(RULE, notifiers(httpserver.url_for("/broken"), stuck_timeout=1.0))
    ctx = make_ctx(db, clock, config)
    add_attempts(ctx, failed=5)

    finished: list[str] = []

    async def run() -> list[DeliveryResult]:
        report = await evaluate_async(ctx, on_done=lambda r: finished.append(r.target))
        return report.deliveries

    try:
        results = {r.target: r for r in asyncio.run(run())}
    finally:
        release.set()
    assert hang_started.is_set()
    # The good one finished first, the 500 after its three tries, the hung one at its timeout.
    assert finished == ["good", "broken", "stuck"]
    assert recorder.kinds() == ["firing"]
    assert (results["good"].status, results["good"].tries) == ("sent", 1)
    assert (results["broken"].status, results["broken"].tries) == ("failed", 3)
    assert results["broken"].error == "http_500"
    assert len(httpserver.log) == 3
    assert (results["stuck"].status, results["stuck"].error) == ("failed", "timeout")
    recorded = {n.target: (n.status, n.tries, n.error) for n in history(ctx)}
    assert recorded == {
        "good": ("sent", 1, None),
        "broken": ("failed", 3, "http_500"),
        "stuck": ("failed", 1, "timeout"),
    }
    # Failed notices are final: the next evaluation does not resend them.
    clock.advance(60)
    assert evaluate(ctx).deliveries == []


async def test_evaluation_waiting_on_a_notifier_does_not_delay_dispatch(
    db: Database, clock: FakeClock, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailconsole.engine.dispatcher import run_dispatch_once

    gate = asyncio.Event()
    entered = asyncio.Event()

    async def hang(payload: Any) -> None:
        entered.set()
        await gate.wait()

    install_hooks(monkeypatch, hang=hang, record=recorder)
    config = alert_config(
        {"failure_rate": {"metric": "failure_rate_24h", "threshold": 0.1, "notify": ["stuck"]}},
        {"stuck": {"type": "hook", "hook": "hang", "timeout_seconds": 60}},
    )
    ctx = make_ctx(db, clock, config)
    add_attempts(ctx, failed=5)
    ids = [
        enqueue(ctx, {"to": f"user{i}@example.com", "subject": "Hi", "text": "x"}) for i in range(3)
    ]

    evaluation = asyncio.create_task(evaluate_async(ctx))
    await asyncio.wait_for(entered.wait(), 10)  # the notifier is now stuck
    report = await asyncio.wait_for(run_dispatch_once(ctx), 20)
    assert report.sent == len(ids)
    assert not evaluation.done()  # dispatch finished while the evaluation still waits

    gate.set()
    result = await asyncio.wait_for(evaluation, 10)
    assert [d.status for d in result.deliveries] == ["sent"]
