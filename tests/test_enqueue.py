"""Putting mail on the queue: validation, defaults, bulk loads, and the bad-input paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import func, select

from mailconsole.cli.main import cli
from mailconsole.context import AppContext
from mailconsole.engine.enqueue import enqueue, enqueue_many, read_jsonl
from mailconsole.errors import ReadOnlyError, ValidationError
from mailconsole.store import Database, Message, MessageBody
from tests.conftest import make_config


def _ctx(db: Database, clock: object, **overrides: object) -> AppContext:
    config = make_config(
        accounts={
            "postmark-main": {"type": "sandbox", "from": "ops@example.com"},
            "smtp-fallback": {"type": "sandbox", "from": "relay@example.net"},
        },
        routing={"primary": "postmark-main", "fallback": "smtp-fallback"},
        limits={"max_message_bytes": 4096},
    )
    return AppContext(config=config, db=db, clock=clock, **overrides)  # type: ignore[arg-type]


def _count(db: Database) -> int:
    with db.reading() as s:
        return s.exec(select(func.count()).select_from(Message)).one()


def test_sender_defaults_to_the_routed_accounts_from_address(db: Database, clock: object) -> None:
    ctx = _ctx(db, clock)
    first = enqueue(ctx, {"to": "ana@example.org", "subject": "Hi", "text": "x"})
    second = enqueue(
        ctx, {"to": "bo@example.org", "subject": "Hi", "text": "x", "backend": "smtp-fallback"}
    )
    with db.reading() as s:
        a, b = s.get(Message, first), s.get(Message, second)
    assert a is not None and b is not None
    assert a.from_addr == "ops@example.com" and a.account is None
    assert b.from_addr == "relay@example.net" and b.account == "smtp-fallback"
    assert a.status == "queued" and a.next_attempt_at == ctx.clock.now()
    assert a.recipient_domain == "example.org"


def test_bodies_and_headers_are_stored_apart_from_the_listing_row(
    db: Database, clock: object
) -> None:
    ctx = _ctx(db, clock)
    mid = enqueue(
        ctx,
        {"to": ["a@example.org"], "cc": "c@example.org", "subject": "S", "text": "plain",
         "html": "<p>html</p>", "headers": ["X-Ticket: 42"], "tag": "reset"},
    )  # fmt: skip
    with db.reading() as s:
        body = s.get(MessageBody, mid)
        row = s.get(Message, mid)
    assert body is not None and row is not None
    assert (body.text_body, body.html_body, body.headers) == (
        "plain",
        "<p>html</p>",
        {"X-Ticket": "42"},
    )
    assert row.cc_addrs == "c@example.org" and row.tag == "reset"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"to": "not-an-address", "subject": "s", "text": "t"}, "invalid address"),
        ({"to": "a@example.org", "subject": "", "text": "t"}, "subject is required"),
        ({"to": "a@example.org", "subject": "s"}, "no body"),
        ({"to": "a@example.org", "subject": "s", "text": "x" * 5000}, "over the limit"),
        (
            {"to": "a@example.org", "subject": "s", "text": "t", "backend": "nope"},
            "unknown backend 'nope'",
        ),
        ({"to": "a@example.org", "subject": "s\nBcc: x@evil.example", "text": "t"}, "one line"),
        (
            {"to": "a@example.org", "subject": "s", "text": "t", "headers": ["Bad Name: x"]},
            "invalid name",
        ),
        ({"to": "a@example.org", "subject": "s", "text": "t", "colour": "red"}, "unknown field"),
    ],
)
def test_bad_messages_are_refused_with_a_reason_and_nothing_is_queued(
    db: Database, clock: object, data: dict[str, object], message: str
) -> None:
    ctx = _ctx(db, clock)
    with pytest.raises(ValidationError, match=message):
        enqueue(ctx, data)
    assert _count(db) == 0


def test_bulk_load_reports_bad_lines_by_number_and_loads_the_rest(
    db: Database, clock: object
) -> None:
    ctx = _ctx(db, clock)
    lines = [
        json.dumps({"to": "a@example.org", "subject": "one", "text": "t"}),
        "{broken json",
        json.dumps({"to": "nobody", "subject": "two", "text": "t"}),
        "",
        json.dumps({"to": "b@example.org", "subject": "three", "text": "t"}),
    ]
    report = enqueue_many(ctx, read_jsonl(lines))
    assert report.accepted == 2
    assert [n for n, _ in report.errors] == [2, 3]
    assert _count(db) == 2


def test_atomic_bulk_load_loads_nothing_when_one_line_is_bad(db: Database, clock: object) -> None:
    ctx = _ctx(db, clock)
    lines = [
        json.dumps({"to": f"u{i}@example.org", "subject": "s", "text": "t"}) for i in range(10)
    ]
    lines.insert(5, json.dumps({"to": "bad", "subject": "s", "text": "t"}))
    report = enqueue_many(ctx, read_jsonl(lines), atomic=True)
    assert report.accepted == 0 and [n for n, _ in report.errors] == [6]
    assert _count(db) == 0


def test_bulk_load_is_chunked_and_keeps_every_message(db: Database, clock: object) -> None:
    ctx = _ctx(db, clock)
    items = (
        (i, {"to": f"user{i}@d{i % 7}.example", "subject": f"s{i}", "text": "t"})
        for i in range(2500)
    )
    report = enqueue_many(ctx, items, chunk=1000)
    assert report.accepted == 2500 and len(set(report.ids)) == 2500
    assert _count(db) == 2500


def test_read_only_mode_refuses_to_enqueue(db: Database, clock: object) -> None:
    ctx = _ctx(db, clock, read_only=True)
    with pytest.raises(ReadOnlyError, match="read-only"):
        enqueue(ctx, {"to": "a@example.org", "subject": "s", "text": "t"})


# --- the CLI's bad-input paths: one line, non-zero exit, nothing lost --------------------------


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text('[accounts.main]\ntype = "sandbox"\nfrom = "ops@example.com"\n')
    return {
        "MAILCONSOLE_CONFIG": str(config),
        "MAILCONSOLE_DATABASE_URL": f"sqlite:///{tmp_path / 'mc.db'}",
    }


def _one_line_error(result: object) -> str:
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert err.count("\n") == 0, err
    assert "Traceback" not in err
    return err


def test_send_queues_a_message_and_prints_its_id(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli,
        ["send", "--to", "a@example.org", "--subject", "Hi", "--text", "x", "--format", "json"],
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"id": 1, "status": "queued"}


def test_send_with_a_malformed_address_is_one_line_and_nonzero(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli, ["send", "--to", "ana@", "--subject", "Hi", "--text", "x"], env=cli_env
    )
    assert result.exit_code != 0
    assert "invalid address" in _one_line_error(result)


def test_send_with_an_unknown_backend_names_the_configured_ones(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli,
        ["send", "--to", "a@example.org", "--subject", "Hi", "--text", "x", "--backend", "ses"],
        env=cli_env,
    )
    assert result.exit_code != 0
    assert "configured accounts are main" in _one_line_error(result)


def test_send_with_an_oversized_body_is_refused(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli,
        ["send", "--to", "a@example.org", "--subject", "Hi", "--text", "x" * (11 * 1024 * 1024)],
        env=cli_env,
    )
    assert result.exit_code != 0
    assert "over the limit" in _one_line_error(result)


def test_a_broken_config_file_is_one_line_naming_the_file(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    Path(cli_env["MAILCONSOLE_CONFIG"]).write_text("[accounts.main\ntype = sandbox\n")
    result = CliRunner().invoke(
        cli, ["send", "--to", "a@example.org", "--subject", "Hi", "--text", "x"], env=cli_env
    )
    assert result.exit_code == 78
    err = _one_line_error(result)
    assert "config.toml" in err and "not valid TOML" in err


def test_a_config_with_a_typo_names_the_key(cli_env: dict[str, str]) -> None:
    Path(cli_env["MAILCONSOLE_CONFIG"]).write_text(
        '[accounts.main]\ntype = "sandbox"\n[retry]\nmax_attempt = 3\n'
    )
    result = CliRunner().invoke(cli, ["db", "status"], env=cli_env)
    assert result.exit_code == 78
    assert "retry.max_attempt" in _one_line_error(result)


def test_an_unwritable_database_path_is_one_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "MAILCONSOLE_DATABASE_URL": "sqlite:////proc/mailconsole/mc.db"}
    result = CliRunner().invoke(
        cli, ["send", "--to", "a@example.org", "--subject", "Hi", "--text", "x"], env=env
    )
    assert result.exit_code != 0
    assert "MAILCONSOLE_DATABASE_URL" in _one_line_error(result)


def test_enqueue_jsonl_from_stdin_reports_line_numbers_and_keeps_good_lines(
    cli_env: dict[str, str],
) -> None:
    data = "\n".join(
        [
            json.dumps({"to": "a@example.org", "subject": "s", "text": "t"}),
            json.dumps({"to": "a@", "subject": "s", "text": "t"}),
            json.dumps(
                {"to": "b@example.org", "subject": "s", "text": "t", "from": "news@example.com"}
            ),
        ]
    )
    result = CliRunner().invoke(cli, ["enqueue", "--jsonl", "-"], input=data, env=cli_env)
    assert result.exit_code == 1
    assert "line 2: invalid address" in result.stderr
    assert "queued 2 message(s), rejected 1" in result.stdout


def test_sending_without_any_configured_account_says_how_to_add_one(
    db: Database, clock: object
) -> None:
    ctx = AppContext(config=make_config(), db=db, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"add an \[accounts.NAME\] table"):
        enqueue(ctx, {"to": "a@example.org", "subject": "s", "text": "t"})
    assert _count(db) == 0
