"""`queue status|run|purge|pause|resume`, `fallback`, `health check`: output and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from mailconsole.cli.main import cli
from mailconsole.services.audit import audit_log
from mailconsole.services.metrics import queue_status
from mailconsole.store.models import Message
from tests.cli.conftest import Cli
from tests.services.factory import add_attempt, add_message


def _messages(run: Cli) -> int:
    with run.db.reading() as s:
        return int(s.execute(select(func.count()).select_from(Message)).scalar_one())


def test_queue_status_json_has_the_runbook_keys(run: Cli) -> None:
    now = run.ctx.clock.now()
    add_message(run.ctx, created_at=now - timedelta(minutes=10))
    dead = add_message(run.ctx, status="dead", error_code="http_503")
    add_attempt(run.ctx, dead, outcome="transient", error_code="http_503")
    add_attempt(run.ctx, dead)
    result = run("queue", "status", "--format=json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in (
        "queue_backlog",
        "oldest_queue_age_s",
        "dead_letter_count",
        "failed_24h",
        "sent_24h",
        "failure_rate_24h",
        "next_attempt_at",
        "paused",
        "by_backend",
    ):
        assert key in data, key
    assert (data["queue_backlog"], data["dead_letter_count"], data["failed_24h"]) == (1, 1, 1)
    assert data["failure_rate_24h"] == 0.5 and data["oldest_queue_age_s"] >= 600
    assert set(data["by_backend"]) == {"sandbox-main", "sandbox-backup"}


def test_queue_status_table_names_each_figure(run: Cli) -> None:
    add_message(run.ctx)
    result = run("queue", "status")
    assert result.exit_code == 0
    assert "Queue backlog      1" in result.stdout and "sandbox-backup" in result.stdout
    assert "Dispatch           running" in result.stdout


def test_queue_run_processes_through_the_dispatcher_and_prints_what_happened(run: Cli) -> None:
    for i in range(3):
        add_message(run.ctx, to=f"u{i}@example.com")
    result = run("queue", "run", "--limit", "10", "--format=json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sent"] == 3
    assert queue_status(run.ctx).queue_backlog == 0
    text = run("queue", "run")
    assert text.exit_code == 0 and text.stdout.startswith("claimed 0")
    assert [r.count for r in audit_log(run.ctx, action="process_now")] == [0, 3]


def test_queue_purge_refuses_without_older_than_or_all(run: Cli) -> None:
    add_message(run.ctx, status="sent")
    result = run("queue", "purge", "--yes")
    assert result.exit_code == 65
    assert "--older-than" in result.stderr and "Traceback" not in result.output
    assert _messages(run) == 1


def test_queue_purge_dry_run_then_confirmed_purge(run: Cli) -> None:
    old = run.ctx.clock.now() - timedelta(days=40)
    for status in ("sent", "dead", "queued"):
        add_message(run.ctx, status=status, created_at=old)
    add_message(run.ctx, status="sent")
    dry = run("queue", "purge", "--older-than=2592000", "--dry-run")
    assert dry.exit_code == 0 and "would purge 2 message(s)" in dry.stdout
    assert _messages(run) == 4
    unconfirmed = run("queue", "purge", "--older-than=30d")  # no terminal to ask on
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
    assert _messages(run) == 4
    done = run(
        "queue", "purge", "--older-than=30d", "--yes", "--reason", "retention", "--format=json"
    )
    assert done.exit_code == 0 and json.loads(done.stdout)["purged"] == 2
    assert _messages(run) == 2
    (row,) = audit_log(run.ctx, action="purge")
    assert (row.count, row.reason, row.actor, row.ssh_client) == (
        2,
        "retention",
        "alice",
        "198.51.100.4",
    )


def test_pause_resume_and_fallback_switches(run: Cli) -> None:
    assert run("queue", "pause", "--reason", "incident").stdout.strip() == "dispatch paused"
    assert run("queue", "pause").stdout.strip() == "dispatch was already paused"
    assert queue_status(run.ctx).paused
    result = run("queue", "pause", "--backend", "sandbox-backup", "--format=json")
    assert json.loads(result.stdout) == {
        "backend": "sandbox-backup",
        "paused": True,
        "changed": True,
    }
    assert run("queue", "resume").exit_code == 0
    assert run("queue", "resume", "--backend", "sandbox-backup").exit_code == 0
    unknown = run("queue", "pause", "--backend", "nope")
    assert unknown.exit_code == 65 and "sandbox-main" in unknown.stderr
    assert (
        run("fallback", "enable", "--reason", "primary down").stdout.strip() == "fallback enabled"
    )
    assert queue_status(run.ctx).fallback_enabled
    assert run("fallback", "disable").exit_code == 0
    status = queue_status(run.ctx)
    assert not status.paused and not status.fallback_enabled
    actions = [(r.action, r.count) for r in reversed(audit_log(run.ctx))]
    assert actions == [
        ("pause", 1),
        ("pause", 0),
        ("pause", 1),
        ("resume", 1),
        ("resume", 1),
        ("pause", None),
        ("fallback.enable", 1),
        ("fallback.disable", 1),
    ]


def test_health_check_exits_0_when_all_is_well(run: Cli) -> None:
    run.add_leader()
    add_message(run.ctx)
    result = run("health", "check", "--format=json")
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["status"] == "ok" and data["exit_code"] == 0
    assert {c["name"] for c in data["checks"]} >= {"database", "scheduler", "credentials"}


def test_health_check_exits_1_on_a_warning(make_cli: Callable[..., Cli]) -> None:
    run = make_cli("\n[thresholds]\nbacklog_warning = 2\nbacklog_critical = 50\n")
    run.add_leader()
    for _ in range(3):
        add_message(run.ctx)
    result = run("health", "check")
    assert result.exit_code == 1
    assert result.stdout.startswith("WARNING: mailconsole health")
    assert "WARNING   backlog" in result.stdout


def test_health_check_exits_2_when_critical(run: Cli) -> None:
    run.add_leader(age_s=3600)  # a worker that died an hour ago
    result = run("health", "check", "--format=json")
    assert result.exit_code == 2
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["scheduler"]["status"] == "critical"
    assert "worker" in checks["scheduler"]["reason"]


def test_health_check_on_a_database_without_schema_is_critical_not_a_traceback(
    run: Cli, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(run.config_path),
            "--database-url",
            f"sqlite:///{tmp_path}/empty.db",
            "health",
            "check",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "CRITICAL  database" in result.stdout and "db upgrade" in result.stdout


def test_queue_status_names_queued_messages_whose_account_left_the_config(run: Cli) -> None:
    add_message(run.ctx, account="old-relay")
    add_message(run.ctx, account="old-relay")
    result = run("queue", "status")
    assert result.exit_code == 0
    line = next(x for x in result.stdout.splitlines() if x.startswith("Never sent"))
    assert "2 queued for old-relay, not in the config" in line
    data = json.loads(run("queue", "status", "--format=json").stdout)
    assert data["stranded"] == {"old-relay": 2}
