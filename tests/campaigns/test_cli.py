"""`mailconsole campaigns …` end to end: the real CLI (CliRunner) on a SQLite file and the real
clock, against a fake Listmonk on 127.0.0.1 (on the real clock too, so `send_at` checks agree)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mailconsole.cli.main import cli
from mailconsole.services.audit import audit_log
from mailconsole.store.db import Database
from tests.campaigns.conftest import ACCOUNT, opt_in_everyone
from tests.fakes.listmonk_server import DefaultSeed, FakeListmonk


@dataclass
class CampaignCli:
    env: dict[str, str]
    fake: FakeListmonk
    seed: DefaultSeed
    db_url: str

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, input=input)

    def audit(self) -> list[tuple[str, str, str]]:
        from mailconsole.config import load_config
        from mailconsole.context import AppContext

        db = Database(self.db_url)
        try:
            ctx = AppContext(config=load_config(self.env["MAILCONSOLE_CONFIG"]), db=db)
            return [(a.action, a.outcome, a.actor) for a in reversed(audit_log(ctx))]
        finally:
            db.dispose()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[CampaignCli]:
    with FakeListmonk() as fake:  # the real clock, like the CLI
        seed = fake.seed_default()
        config = tmp_path / "config.toml"
        config.write_text(
            f'[accounts.{ACCOUNT}]\ntype = "listmonk"\nbase_url = "{fake.url}"\n'
            'api_user = "mailconsole"\n\n[listmonk]\n'
            f'account = "{ACCOUNT}"\n',
            encoding="utf-8",
        )
        db_url = f"sqlite:///{tmp_path / 'mc.db'}"
        env = {"MAILCONSOLE_CONFIG": str(config), "MAILCONSOLE_DATABASE_URL": db_url,
               "USER": "ana", "SUDO_USER": ""}  # fmt: skip
        yield CampaignCli(env, fake, seed, db_url)


def test_list_prints_every_campaign_with_its_approval_state_as_a_table_or_json(
    run: CampaignCli,
) -> None:
    table = run("campaigns", "list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "NAME", "LISTS", "AUDIENCE", "SEND", "AT",
                                "(UTC)", "PROGRESS", "APPROVALS"]  # fmt: skip
    assert len(lines) == 121
    spring = next(line for line in lines if "Spring sale" in line)
    assert "Newsletter, Customers" in spring and "~10" in spring
    assert spring.endswith("legal — brand — consent — test —")
    digest = next(line for line in lines if "Weekly digest #12" in line)
    assert "1800/5000 (36%) 42/min" in digest

    data = json.loads(
        run("campaigns", "list", "--status", "running,paused", "--format=json").stdout
    )
    assert [c["name"] for c in data["campaigns"]] == ["Weekly digest #12", "Autumn promo"]
    assert data["campaigns"][0]["governance"]["missing"][0] == "missing legal approval"


def test_the_runbook_lifecycle_refuses_schedule_with_exit_3_then_schedules(
    run: CampaignCli,
) -> None:
    cid = str(run.seed.ready_campaign)
    refused = run("campaigns", "schedule", cid, "--at", "+2h")
    assert refused.exit_code == 3
    assert refused.stderr == (
        f"mailconsole: cannot schedule campaign {cid}: missing legal approval; missing brand "
        "approval; no consent check for this version; no test send for this version\n"
    )
    assert run.fake.status_changes == []

    approved = run("campaigns", "approve", cid, "--role", "legal", "--note", "unsubscribe ok")
    assert approved.exit_code == 0, approved.output
    assert approved.stdout.startswith(f"campaign {cid} (Spring sale): legal approved by ana")
    assert run("campaigns", "approve", cid, "--role", "brand").exit_code == 0
    consent = run("campaigns", "consent", cid)
    assert consent.exit_code == 1
    assert 'subscribers of "Newsletter" without marketing_opt_in = true' in consent.stdout
    failing = json.loads(run("campaigns", "consent", cid, "--format=json").stdout)
    assert failing["passed"] is False and failing["without_attribute"] == 2
    assert [lst["name"] for lst in failing["lists"]] == ["Newsletter", "Customers"]
    opt_in_everyone(run.fake)
    assert run("campaigns", "consent", cid).exit_code == 0
    test = run("campaigns", "test", cid)
    assert test.exit_code == 0
    assert "to 2 tester(s) on mailing-testers: qa-1@example.com, qa-2@example.com" in test.stdout

    unconfirmed = run("campaigns", "schedule", cid, "--at", "+2h")  # no terminal to ask on
    assert unconfirmed.exit_code == 2 and "add --yes" in unconfirmed.stderr
    done = run("campaigns", "schedule", cid, "--at", "+2h", "--yes", "--reason", "launch")
    assert done.exit_code == 0, done.output
    assert "Spring sale): draft → scheduled for " in done.stdout
    assert run.fake.status_changes == [(run.seed.ready_campaign, "draft", "scheduled")]

    shown = run("campaigns", "show", cid)
    assert "Governance (ready to schedule or start)" in shown.stdout
    assert "History (newest first)" in shown.stdout
    detail = json.loads(run("campaigns", "show", cid, "--format=json").stdout)
    governance = detail["row"]["governance"]
    assert governance["ready"] is True and governance["missing"] == []
    assert [i["kind"] for i in governance["items"] if i["ok"]] == [
        "legal", "brand", "consent", "test_send",
    ]  # fmt: skip
    assert all(r["current"] for r in detail["reviews"][:4])
    assert len(detail["fingerprint"]) == 64
    actions = [a for a, _o, _u in run.audit()]
    assert actions == [
        "campaign.schedule",
        "campaign.approve",
        "campaign.approve",
        "campaign.consent_check",
        "campaign.consent_check",
        "campaign.consent_check",
        "campaign.test_send",
        "campaign.schedule",
    ]  # fmt: skip  (the unconfirmed one did nothing)


def test_pause_and_cancel_answer_in_one_line_and_refuse_what_the_status_forbids(
    run: CampaignCli,
) -> None:
    running = str(run.seed.running_campaign)
    paused = run("campaigns", "pause", running, "--reason", "wrong link", "--format=json")
    assert paused.exit_code == 0
    assert json.loads(paused.stdout)["status"] == "paused"
    again = run("campaigns", "pause", running)
    assert again.exit_code == 1
    assert again.stderr == (
        f"mailconsole: cannot pause campaign {running}: it is paused (only a running campaign "
        "can be paused)\n"
    )
    cancelled = run("campaigns", "cancel", running, "--yes")
    assert cancelled.exit_code == 0 and "paused → cancelled" in cancelled.stdout
    missing = run("campaigns", "show", "9999")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("mailconsole: Campaign not found")
    assert "Traceback" not in missing.output


def test_reject_requires_a_note_and_read_only_refuses_with_exit_77(run: CampaignCli) -> None:
    cid = str(run.seed.ready_campaign)
    no_note = run("campaigns", "reject", cid, "--role", "brand")
    assert no_note.exit_code == 2 and "--note" in no_note.stderr
    refused = run("--read-only", "campaigns", "approve", cid, "--role", "legal")
    assert refused.exit_code == 77 and "read-only mode" in refused.stderr
    assert run.audit() == [("campaign.approve", "refused", "ana")]


def test_scorecard_exports_csv_with_formulas_neutralised_and_json(run: CampaignCli) -> None:
    finished = run.seed.finished_campaign
    run.fake.force_campaign(finished, name="@SUM(A1:A9)")
    result = run("campaigns", "scorecard", str(finished), "--format=csv")
    assert result.exit_code == 0
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert row["campaign"] == "'@SUM(A1:A9)"
    assert (row["sent"], row["views"], row["clicks"], row["bounces"]) == ("6", "6", "3", "3")
    assert result.stdout.splitlines()[1].startswith(f'"{finished}","\'@SUM')

    table = run("campaigns", "scorecard", str(finished))
    assert "views    6        100.0%" in table.stdout
    assert "bounces  3        50.0%" in table.stdout
    [card] = json.loads(run("campaigns", "scorecard", str(finished), "--format=json").stdout)
    assert card["click_rate"] == 0.5


def test_bounces_are_listed_then_cleared(run: CampaignCli) -> None:
    listed = run("campaigns", "bounces", "emma@example.org")
    assert listed.exit_code == 0
    emma = run.seed.subscribers["emma@example.org"]
    assert listed.stdout.splitlines()[0] == (
        f"emma@example.org (subscriber {emma}, enabled): 2 bounce(s)"
    )
    assert "Winter newsletter" in listed.stdout
    cleared = run("campaigns", "bounces", "emma@example.org", "--clear", "--reason", "incident")
    assert cleared.stdout == "emma@example.org: 2 bounce(s) cleared\n"
    assert run.fake.bounce_count(run.seed.subscribers["emma@example.org"]) == 0
    assert run.audit() == [("subscriber.clear_bounces", "ok", "ana")]


def test_import_shows_its_progress_and_a_summary(run: CampaignCli, tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text(
        "email,name,attributes\n" + "".join(f'n{i}@example.net,N{i},"{{}}"\n' for i in range(6)),
        encoding="utf-8",
    )
    result = run("campaigns", "import", str(path), "--list", "Customers", "--poll-seconds", "0.05")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "import importing: 0/6",
        "import importing: 2/6",
        "import importing: 4/6",
        "import finished: 6/6",
    ]
    assert result.stdout == "imported 6 of 6 records from new.csv into Customers (subscribe)\n"
    unknown = run("campaigns", "import", str(path), "--list", "Nope")
    assert unknown.exit_code == 65 and "no list named 'Nope'" in unknown.stderr


def _commands(group: click.Group, prefix: str) -> list[str]:
    return [f"{prefix}{name}" for name in group.commands]


@pytest.mark.parametrize(
    "name",
    _commands(cli.commands["campaigns"], "campaigns "),  # type: ignore[arg-type]
)
def test_every_campaigns_command_has_help_with_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and f"mailconsole {name}" in result.output
