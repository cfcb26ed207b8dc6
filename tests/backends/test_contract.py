"""The contract every installed backend keeps, run once per entry point in `mailconsole.backends`.

Each backend is built through its entry point against a real server on 127.0.0.1 (the sandbox
needs none). `CONTRACT` below says how, per backend kind: a backend installed without an entry
here fails this test, so nobody can add a backend without running it through the contract.
"""

from __future__ import annotations

import importlib.metadata
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mailconsole.backend_api import (
    ENTRY_POINT_GROUP,
    Backend,
    BackendContext,
    BackendLimits,
    HealthStatus,
    Outcome,
    OutgoingMessage,
    Quota,
    SendResult,
    available_backends,
    load_backend_class,
)
from mailconsole.clock import FakeClock
from mailconsole.errors import ConfigError


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Harness:
    """How to build one backend kind against its fake server, and what that server accepts."""

    options: dict[str, Any]
    secret: str | None
    recipients: tuple[str, ...]  # addresses the fake accepts
    broken_options: dict[str, Any]  # the same account pointed at a provider that fails
    delivered: Callable[[Any], int]  # messages the provider took (given the backend)
    message_fields: dict[str, Any] = field(default_factory=dict)


HarnessFactory = Callable[[ExitStack, FakeClock], Harness]


def _sandbox(stack: ExitStack, clock: FakeClock) -> Harness:
    return Harness(
        options={"latency_ms": 0, "failure_rate": 0, "permanent_rate": 0, "seed": 1},
        secret=None,
        recipients=("a@example.com", "b@example.com", "c@example.com"),
        broken_options={"latency_ms": 0, "account_error": True},
        delivered=lambda backend: sum(backend.accepted.values()),
    )


def _postmark(stack: ExitStack, clock: FakeClock) -> Harness:
    from tests.fakes.postmark_server import DEFAULT_TOKEN, FakePostmark

    server = stack.enter_context(FakePostmark())
    return Harness(
        options={"base_url": server.url},
        secret=DEFAULT_TOKEN,
        recipients=("a@example.com", "b@example.com", "c@example.com"),
        broken_options={"base_url": f"http://127.0.0.1:{closed_port()}"},
        delivered=lambda backend: len(server.accepted),
    )


def _smtp(stack: ExitStack, clock: FakeClock) -> Harness:
    from tests.fakes.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, FakeSmtp

    server = stack.enter_context(FakeSmtp(require_auth=True))
    common = {"host": server.host, "username": DEFAULT_USERNAME, "local_hostname": "client.test"}
    return Harness(
        options={**common, "port": server.port},
        secret=DEFAULT_PASSWORD,
        recipients=("a@example.com", "b@example.com", "c@example.com"),
        broken_options={**common, "port": closed_port()},
        delivered=lambda backend: len(server.messages),
    )


def _listmonk(stack: ExitStack, clock: FakeClock) -> Harness:
    from tests.fakes.listmonk_server import FakeListmonk

    server = stack.enter_context(FakeListmonk(clock=clock))
    seed = server.seed_default()
    known = tuple(sorted(seed.subscribers))[:3]
    common = {"api_user": server.api_user, "template_id": seed.tx_template}
    return Harness(
        options={**common, "base_url": server.url},
        secret=server.token,
        recipients=known,
        broken_options={**common, "base_url": f"http://127.0.0.1:{closed_port()}"},
        delivered=lambda backend: len(server.tx_sent),
    )


# One entry per backend kind. Adding a backend? Add its factory here (a fake server on 127.0.0.1).
CONTRACT: dict[str, HarnessFactory] = {
    "sandbox": _sandbox,
    "postmark": _postmark,
    "smtp": _smtp,
    "listmonk": _listmonk,
}


def harness_factory(kind: str) -> HarnessFactory:
    factory = CONTRACT.get(kind)
    if factory is None:
        pytest.fail(
            f"backend {kind!r} is installed (entry point in group {ENTRY_POINT_GROUP!r}) but has "
            "no entry in CONTRACT in tests/backends/test_contract.py: add a factory that builds "
            "it against a fake server on 127.0.0.1, so it runs through the backend contract",
            pytrace=False,
        )
    return factory


@dataclass
class Built:
    kind: str
    cls: type[Backend]
    harness: Harness
    clock: FakeClock
    http: httpx.AsyncClient

    def context(self, options: dict[str, Any] | None = None) -> BackendContext:
        return BackendContext(
            name=f"{self.kind}-contract",
            options=self.harness.options if options is None else options,
            secret=self.harness.secret,
            http=self.http,
            clock=self.clock,
            default_from="ops@example.com",
        )

    def messages(self, first_id: int) -> list[OutgoingMessage]:
        return [
            OutgoingMessage(
                id=first_id + n,
                from_addr="ops@example.com",
                to=(address,),
                subject=f"contract {first_id + n}",
                text="text body",
                html="<p>html body</p>",
                **self.harness.message_fields,
            )
            for n, address in enumerate(self.harness.recipients)
        ]


@pytest.fixture(params=available_backends())
def built(request: pytest.FixtureRequest) -> Iterator[Built]:
    kind: str = request.param
    factory = harness_factory(kind)
    clock = FakeClock()
    with ExitStack() as stack:
        harness = factory(stack, clock)
        yield Built(kind, load_backend_class(kind), harness, clock, httpx.AsyncClient())


async def test_backend_keeps_the_contract(built: Built) -> None:
    cls = built.cls
    assert cls.kind == built.kind, "kind must be the entry-point name"
    assert isinstance(cls.needs_secret, bool) and isinstance(cls.supports_quota, bool)

    # create() refuses an unknown key, naming it as accounts.<name>.<key>, in one line.
    with pytest.raises(ConfigError) as err:
        cls.create(built.context({**built.harness.options, "no_such_option": 1}))
    assert str(err.value).startswith(f"accounts.{built.kind}-contract.no_such_option")
    assert "\n" not in str(err.value)

    backend = cls.create(built.context())
    try:
        assert isinstance(backend, Backend)
        assert backend.name == f"{built.kind}-contract"
        limits = backend.limits
        assert isinstance(limits, BackendLimits)
        assert limits.batch_size >= 1 and limits.max_connections >= 1
        assert limits.rate_per_second is None or limits.rate_per_second > 0

        assert await backend.send([]) == []

        batch = built.messages(first_id=100)
        results = await backend.send(batch)
        assert len(results) == len(batch)
        assert all(isinstance(r, SendResult) for r in results)
        assert [r.message_id for r in results] == [m.id for m in batch]
        assert all(r.outcome is Outcome.SENT for r in results), results
        assert all(r.provider_message_id for r in results)
        assert built.harness.delivered(backend) == len(batch)

        health = await backend.health()
        assert isinstance(health, HealthStatus) and health.ok, health
        quota = await backend.quota()
        assert quota is None or isinstance(quota, Quota)
        if not cls.supports_quota:
            assert quota is None
    finally:
        await backend.aclose()
        await backend.aclose()  # closing twice is harmless
        await built.http.aclose()


async def test_backend_reports_provider_failures_as_results_not_exceptions(built: Built) -> None:
    backend = built.cls.create(built.context(built.harness.broken_options))
    try:
        batch = built.messages(first_id=200)
        results = await backend.send(batch)
        assert [r.message_id for r in results] == [m.id for m in batch]
        assert all(r.outcome in (Outcome.TRANSIENT, Outcome.ACCOUNT) for r in results), results
        assert all(r.error_code for r in results)
        health = await backend.health()
        assert isinstance(health, HealthStatus) and not health.ok and health.error_code
    finally:
        await backend.aclose()
        await built.http.aclose()


@pytest.mark.parametrize("kind", available_backends())
def test_backend_module_does_not_import_textual(kind: str) -> None:
    [entry] = [
        ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind
    ]
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({entry.module!r})\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{entry.module} imports textual: {done.stdout}{done.stderr}"


def test_an_installed_backend_without_a_contract_entry_fails_loudly() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        harness_factory("carrier-pigeon")
    assert "no entry in CONTRACT" in str(failed.value)
    assert set(available_backends()) >= {"sandbox", "postmark", "smtp"}
