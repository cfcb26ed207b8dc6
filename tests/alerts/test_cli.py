"""`mailconsole alerts …` end to end, in-process, on a SQLite file and the real clock."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailconsole.cli.main import cli
from mailconsole.context import AppContext
from mailconsole.store.db import Database
from tests.alerts.factory import Recorder, add_attempts, alert_config

CONFIG = """
[accounts.sandbox-main]
type = "sandbox"
from = "ops@example.com"

[alerts.rules.failure_rate]
metric = "failure_rate_24h"
threshold = 0.10
warning = 0.05
notify = ["rec"]

[alerts.rules.backlog]
metric = "queue_backlog"
threshold = 100
notify = ["rec"]

[notifiers.rec]
type = "hook"
hook = "record"
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    return {
        "MAILCONSOLE_CONFIG": str(config),
        "MAILCONSOLE_DATABASE_URL": f"sqlite:///{tmp_path / 'mc.db'}",
        "USER": "ana",
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def seed_failures(env: dict[str, str]) -> None:
    db = Database(env["MAILCONSOLE_DATABASE_URL"])
    db.check_schema(create_if_empty=True)
    add_attempts(AppContext(config=alert_config(), db=db), sent=3, failed=1)
    db.dispose()


def test_list_shows_value_threshold_and_state_as_a_table_and_as_json(
    env: dict[str, str], recorder: Recorder
) -> None:
    seed_failures(env)
    table = run(env, "alerts", "list")
    assert table.exit_code == 0, table.output
    header, first, second = table.stdout.splitlines()
    assert header.split()[:4] == ["RULE", "WATCHES", "VALUE", "THRESHOLD"]
    assert first.split()[:5] == ["failure_rate", "failure_rate_24h", "25", "%", "10"]
    assert second.split()[:4] == ["backlog", "queue_backlog", "0", "100"]
    data = json.loads(run(env, "alerts", "list", "--format=json").stdout)
    assert [(a["rule"], a["value"], a["state"]) for a in data["alerts"]] == [
        ("failure_rate", 0.25, "ok"),
        ("backlog", 0.0, "ok"),
    ]
    assert data["notifier_problems"] == {}


def test_evaluate_fires_then_ack_and_history_show_it(
    env: dict[str, str], recorder: Recorder
) -> None:
    seed_failures(env)
    first = run(env, "alerts", "evaluate")
    assert first.exit_code == 0, first.output
    assert "failure_rate: firing critical → firing notice" in first.stdout
    assert "  rec: sent" in first.stdout
    again = run(env, "alerts", "evaluate", "--quiet")
    assert again.exit_code == 0 and again.stdout == ""
    assert recorder.kinds() == ["firing"]

    ack = run(env, "alerts", "ack", "failure_rate", "--reason", "on it")
    assert ack.exit_code == 0, ack.output
    assert "acknowledged by ana" in ack.stdout
    listed = run(env, "alerts", "list").stdout
    assert "acknowledged by ana (critical)" in listed

    rows = list(csv.reader(io.StringIO(run(env, "alerts", "history", "--format=csv").stdout)))
    assert rows[0][:4] == ["id", "at", "rule", "kind"]
    assert [(r[2], r[3], r[5], r[6]) for r in rows[1:]] == [
        ("failure_rate", "firing", "rec", "sent")
    ]
    history = json.loads(run(env, "alerts", "history", "--format=json").stdout)
    assert history[0]["summary"].startswith("[FIRING (critical)] failure_rate")


def test_silence_read_only_and_bad_input_exit_codes(
    env: dict[str, str], recorder: Recorder
) -> None:
    ok = run(env, "alerts", "silence", "backlog", "--for", "2h", "--reason", "import")
    assert ok.exit_code == 0 and "silenced until" in ok.stdout
    refused = run(env, "--read-only", "alerts", "silence", "backlog", "--for", "2h")
    assert refused.exit_code == 77
    assert "read-only mode" in refused.stderr and "Traceback" not in refused.stderr
    assert run(env, "alerts", "silence", "backlog", "--for", "2 parsecs").exit_code == 65
    unknown = run(env, "alerts", "ack", "nope")
    assert unknown.exit_code == 1
    assert "the rules are failure_rate, backlog" in unknown.stderr
    not_firing = run(env, "alerts", "ack", "backlog")
    assert not_firing.exit_code == 75 and "not firing" in not_firing.stderr


def test_test_sends_to_the_rules_notifiers_and_evaluate_exits_1_when_a_notice_fails(
    env: dict[str, str], tmp_path: Path, recorder: Recorder
) -> None:
    result = run(env, "alerts", "test", "backlog")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "rec: sent after 1 try"
    assert recorder.kinds() == ["test"]

    config = Path(env["MAILCONSOLE_CONFIG"])
    config.write_text(
        CONFIG.replace(
            'type = "hook"\nhook = "record"', 'type = "webhook"\nurl = "http://127.0.0.1:9/x"'
        )
    )
    seed_failures(env)
    listed = run(env, "alerts", "list")
    assert "warning: notifier 'rec' needs its signing secret" in listed.stderr
    failed = run(env, "alerts", "evaluate")
    assert failed.exit_code == 1
    assert "rec: failed (notifier 'rec' needs its signing secret" in failed.stdout
