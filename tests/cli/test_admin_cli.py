"""`secrets`, `config check`, read-only refusals across every mutating command, and --help."""

from __future__ import annotations

import json
from collections.abc import Callable

import click
import keyring
import keyring.backends.fail
import pytest
from click.testing import CliRunner

from mailconsole.cli.main import cli
from mailconsole.services.audit import audit_log
from tests.cli.conftest import Cli
from tests.services.factory import add_message

PM = '\n[accounts.pm]\ntype = "postmark"\nfrom = "ops@example.com"\n'


def test_secrets_set_reads_stdin_status_shows_the_source_never_the_value(
    make_cli: Callable[..., Cli], memory_keyring
) -> None:
    run = make_cli(PM)
    missing = run("secrets", "status", "pm", "--format=json")
    assert missing.exit_code == 1 and json.loads(missing.stdout)[0]["source"] == "missing"
    result = run("secrets", "set", "pm", "--reason", "rotation", input="tok-s3cret\n")
    assert result.exit_code == 0, result.output
    assert memory_keyring.get_password("mailconsole", "pm") == "tok-s3cret"
    status = run("secrets", "status")
    assert status.exit_code == 0
    assert "keyring" in status.stdout and "not needed" in status.stdout
    assert "tok-s3cret" not in status.output
    assert run("secrets", "delete", "pm").exit_code == 0
    assert memory_keyring.get_password("mailconsole", "pm") is None
    trail = audit_log(run.ctx, action="secrets.")
    assert [(r.action, r.count) for r in trail] == [("secrets.delete", 1), ("secrets.set", 1)]
    assert all("tok-s3cret" not in json.dumps(r.to_dict()) for r in trail)


def test_secrets_set_with_no_keyring_prints_one_line_saying_what_to_do(
    make_cli: Callable[..., Cli],
) -> None:
    run = make_cli(PM)
    keyring.set_keyring(keyring.backends.fail.Keyring())
    result = run("secrets", "set", "pm", input="tok\n")
    assert result.exit_code == 78
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "MAILCONSOLE_SECRET_PM" in result.stderr and "keyrings.alt" in result.stderr


def test_secrets_set_of_an_unknown_account_is_refused_before_reading(run: Cli) -> None:
    result = run("secrets", "set", "typo", input="x\n")
    assert result.exit_code == 65 and "sandbox-main" in result.stderr


def test_config_check_prints_the_effective_config_with_secrets_masked(
    make_cli: Callable[..., Cli], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_cli(
        PM + 'server_token = "tok-in-file"\n'
        '\n[notifiers.ops]\ntype = "slack"\n'
        'webhook_url = "https://hooks.slack.com/services/T1/B2/SECRETPART"\n'
    )
    monkeypatch.setenv("MAILCONSOLE_SECRET_PM", "env-secret")
    result = run("config", "check")
    assert result.exit_code == 0, result.output
    for secret in ("tok-in-file", "SECRETPART", "env-secret"):
        assert secret not in result.output
    assert "[accounts.pm]" in result.stdout and 'server_token = "********"' in result.stdout
    assert "#   pm: environment" in result.stdout
    assert "looks like a secret" in result.stderr
    data = json.loads(run("config", "check", "--format=json").stdout)
    assert data["credentials"]["sandbox-main"]["source"] == "not needed"


def test_config_check_names_the_bad_key_in_one_line(run: Cli) -> None:
    run.config_path.write_text("[thresholds]\nbacklog_warnign = 3\n", encoding="utf-8")
    result = run("config", "check")
    assert result.exit_code == 78
    assert "backlog_warnign" in result.stderr and result.stderr.count("\n") == 1


MUTATING = {
    "queue run": ["queue", "run"],
    "queue pause": ["queue", "pause"],
    "queue resume": ["queue", "resume", "--backend", "sandbox-main"],
    "queue purge": ["queue", "purge", "--all", "--yes"],
    "queue reset-circuit": ["queue", "reset-circuit", "sandbox-main"],
    "fallback enable": ["fallback", "enable"],
    "fallback disable": ["fallback", "disable"],
    "retry": ["retry", "--status", "dead", "--yes"],
    "resend": ["resend", "{id}", "--yes"],
    "suppress": ["suppress", "a@example.com"],
    "unsuppress": ["unsuppress", "a@example.com"],
    "secrets set": ["secrets", "set", "sandbox-main"],
    "secrets delete": ["secrets", "delete", "sandbox-main"],
}


@pytest.mark.parametrize("name", sorted(MUTATING))
def test_read_only_mode_refuses_every_mutating_command_and_audits_it(run: Cli, name: str) -> None:
    mid = add_message(run.ctx, status="dead")
    args = [a.replace("{id}", str(mid)) for a in MUTATING[name]]
    result = run(*args, read_only=True, input="secret\n")
    assert result.exit_code == 77, result.output
    assert "read-only" in result.stderr and "Traceback" not in result.output
    (row,) = audit_log(run.ctx)
    assert row.outcome == "refused" and row.actor == "alice"
    assert [r.outcome for r in audit_log(run.ctx)] == ["refused"]


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append((prefix + name, command))
    return found


MINE = (
    "queue ",
    "fallback ",
    "health ",
    "logs ",
    "retry",
    "resend",
    "suppress",
    "unsuppress",
    "audit",
    "secrets ",
    "config ",
)


@pytest.mark.parametrize("name", [n for n, _ in _commands(cli) if n.startswith(MINE)])
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and f"mailconsole {name}" in result.output
