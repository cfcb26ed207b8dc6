"""`logs export|show`, `retry`, `resend`, `suppress`, `audit`: output, exit codes, the trail."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from mailconsole.cli import common
from mailconsole.services.audit import audit_log
from mailconsole.services.operations import list_suppressions
from mailconsole.store.models import Message
from tests.cli.conftest import Cli
from tests.services.factory import add_message


def _statuses(run: Cli) -> dict[int, str]:
    with run.db.reading() as s:
        return dict(s.execute(select(Message.id, Message.status)).all())


def test_logs_export_csv_neutralises_formulas_and_keeps_unicode(run: Cli, tmp_path: Path) -> None:
    add_message(
        run.ctx,
        status="dead",
        subject="=1+1",
        to="+tag@x.example",
        error="-ERR full",
        error_code="smtp_552",
    )
    add_message(run.ctx, status="dead", subject="@SUM(A1)", error="\tindent", error_code="http_503")
    add_message(
        run.ctx,
        status="dead",
        subject="Grüße aus Köln ✉ 東京",
        to="zoë@example.org",
        error="\rreturn",
        error_code="http_500",
    )
    out = tmp_path / "failures.csv"
    result = run("logs", "export", "--status", "dead", "--format=csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "exported 3 message(s)" in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))
    subjects = {r["subject"] for r in rows}
    assert subjects == {"'=1+1", "'@SUM(A1)", "Grüße aus Köln ✉ 東京"}
    assert {r["to_addrs"] for r in rows} >= {"'+tag@x.example", "zoë@example.org"}
    assert {r["last_error"] for r in rows} == {"'-ERR full", "'\tindent", "'\rreturn"}
    assert out.read_text(encoding="utf-8").startswith('"id","created_at"')


def test_logs_export_search_http_5_finds_every_5xx(run: Cli) -> None:
    wanted = {
        add_message(run.ctx, status="dead", error_code=c)
        for c in ("http_500", "http_503", "http_599")
    }
    for code in ("http_429", "smtp_550", "timeout"):
        add_message(run.ctx, status="dead", error_code=code)
    result = run("logs", "export", "--search", "http_5", "--format=jsonl")
    assert result.exit_code == 0
    found = {json.loads(line)["id"] for line in result.stdout.splitlines()}
    assert found == wanted


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_logs_export_json_formats_are_valid(run: Cli, fmt: str) -> None:
    for i in range(3):
        add_message(run.ctx, subject=f"naïve {i} ✓")
    result = run("logs", "export", f"--format={fmt}", "--since", "1h")
    text = result.stdout
    items = json.loads(text) if fmt == "json" else [json.loads(x) for x in text.splitlines()]
    assert len(items) == 3 and "naïve" in text


def test_logs_list_and_show_print_the_timeline_and_replay_link(run: Cli) -> None:
    src = add_message(run.ctx, status="dead", subject="Invoice", error_code="http_503")
    copy = add_message(run.ctx, replay_of=src, subject="Invoice")
    listed = run("logs", "list", "--status", "dead")
    assert (
        listed.exit_code == 0 and "Invoice" in listed.stdout and f"\n{copy} " not in listed.stdout
    )
    shown = run("logs", "show", str(src))
    assert f"Resent as    {copy} (queued)" in shown.stdout
    assert f"Replays      message {src} (dead)" in run("logs", "show", str(copy)).stdout
    missing = run("logs", "show", "999999")
    assert missing.exit_code == 1 and "no message with id 999999" in missing.stderr


def test_retry_dry_run_changes_nothing_and_the_run_changes_what_the_plan_counted(run: Cli) -> None:
    for status in (
        "dead",
        "dead",
        "bounced",
        "cancelled",
        "sent",
        "queued",
        "suppressed",
        "delivered",
    ):
        add_message(run.ctx, status=status, error_code="http_503")
    before = _statuses(run)
    dry = run("retry", "--search", "http_503", "--dry-run", "--format=json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)["plan"]
    assert (plan["matched"], plan["retryable"]) == (8, 4)
    assert plan["not_retryable"] == {"delivered": 1, "queued": 1, "sent": 1, "suppressed": 1}
    assert _statuses(run) == before
    real = run("retry", "--search", "http_503", "--yes", "--reason", "503 storm over")
    assert real.exit_code == 0, real.output
    assert "Retryable      4" in real.stdout and "re-queued 4 message(s)" in real.stdout
    after = _statuses(run)
    changed = {i for i in before if before[i] != after[i]}
    assert len(changed) == plan["retryable"]
    assert all(before[i] in ("dead", "bounced", "cancelled") for i in changed)
    assert all(
        before[i] == after[i] for i in before if before[i] in ("sent", "queued", "suppressed")
    )
    (row,) = audit_log(run.ctx, action="retry")
    assert (row.count, row.reason) == (4, "503 storm over")


def test_retry_without_a_terminal_or_yes_changes_nothing(run: Cli) -> None:
    add_message(run.ctx, status="dead")
    result = run("retry", "--status", "dead")
    assert result.exit_code == 2 and "--yes" in result.stderr
    assert set(_statuses(run).values()) == {"dead"}


def test_retry_above_the_threshold_must_be_confirmed_by_typing_the_count(
    make_cli: Callable[..., Cli], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_cli("\n[ui]\ntyped_confirm_threshold = 2\n")
    ids = [add_message(run.ctx, status="dead") for _ in range(3)]
    terminal = SimpleNamespace(stdin=SimpleNamespace(isatty=lambda: True), exit=common.sys.exit)
    monkeypatch.setattr(common, "sys", terminal)
    wrong = run("retry", "--id", ",".join(map(str, ids)), input="2\n")
    assert wrong.exit_code == 1 and "not confirmed" in wrong.output
    assert set(_statuses(run).values()) == {"dead"}
    right = run("retry", "--id", ",".join(map(str, ids)), input="3\n")
    assert right.exit_code == 0, right.output
    assert "Type 3 to confirm" in right.output and set(_statuses(run).values()) == {"queued"}


def test_resend_never_mutates_the_source_and_records_the_replay(run: Cli) -> None:
    src = add_message(
        run.ctx, status="sent", subject="Receipt", to="old@example.com", text="body text"
    )
    with run.db.reading() as s:
        before = s.get(Message, src).model_dump()  # type: ignore[union-attr]
    result = run(
        "resend",
        str(src),
        "--to",
        "new@example.org",
        "--subject",
        "Receipt (again)",
        "--backend",
        "sandbox-backup",
        "--yes",
        "--format=json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["replay_of"] == src
    with run.db.reading() as s:
        assert s.get(Message, src).model_dump() == before  # type: ignore[union-attr]
        copy = s.get(Message, data["id"])
    assert copy is not None and (copy.to_addrs, copy.subject, copy.account, copy.replay_of) == (
        "new@example.org",
        "Receipt (again)",
        "sandbox-backup",
        src,
    )
    shown = run("logs", "show", str(src), "--format=json")
    assert [r["id"] for r in json.loads(shown.stdout)["replays"]] == [data["id"]]


def test_suppress_and_unsuppress(run: Cli) -> None:
    result = run("suppress", "Ana@Example.com", "--reason", "complaint")
    assert result.exit_code == 0 and "suppressed" in result.stdout
    assert [v.address for v in list_suppressions(run.ctx)] == ["ana@example.com"]
    assert "already" in run("suppress", "ana@example.com").stdout
    bad = run("suppress", "not-an-address")
    assert bad.exit_code == 65 and "invalid address" in bad.stderr
    assert run("unsuppress", "ana@example.com", "--format=json").exit_code == 0
    assert list_suppressions(run.ctx) == []


def test_audit_lists_filters_and_exports_the_trail(run: Cli) -> None:
    run("queue", "pause", "--reason", "=cmd|calc")
    run("fallback", "enable")
    table = run("audit")
    assert table.exit_code == 0 and "alice@198.51.100.4" in table.stdout
    data = json.loads(run("audit", "--action", "fallback", "--format=json").stdout)
    assert [d["action"] for d in data] == ["fallback.enable"]
    rows = list(csv.DictReader(io.StringIO(run("audit", "--format=csv").stdout)))
    assert {r["reason"] for r in rows} == {"'=cmd|calc", ""}
    assert run("audit", "--since", "bogus").exit_code == 65
