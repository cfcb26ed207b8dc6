"""Configuration validation and where secrets come from (keyring, environment, neither)."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from mailconsole.config import load_config
from mailconsole.errors import ConfigError, SecretError
from mailconsole.secrets import SecretSource, SecretStore, env_var_for
from tests.conftest import make_config


def test_accounts_routing_and_fallback_are_read_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[accounts.postmark-main]
type = "postmark"
from = "ops@example.com"
base_url = "http://127.0.0.1:9"
batch_size = 500

[accounts.smtp-fallback]
type = "smtp"
host = "127.0.0.1"

[routing]
primary = "postmark-main"
fallback = "smtp-fallback"
"""
    )
    cfg = load_config(path)
    assert cfg.primary_account == "postmark-main"
    assert cfg.fallback_for("postmark-main") == "smtp-fallback"
    assert cfg.fallback_for("smtp-fallback") is None
    opts = cfg.accounts["postmark-main"].backend_options()
    assert opts["base_url"] == "http://127.0.0.1:9" and opts["from"] == "ops@example.com"
    assert "type" not in opts


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[routing]\nprimary = "nope"\n', "routing.primary = 'nope' is not an account"),
        ("[retry]\nmax_attempts = 0\n", "retry.max_attempts"),
        ("[dispatch]\nintervall_seconds = 5\n", "dispatch.intervall_seconds: unknown key"),
        ('[accounts."bad name"]\ntype = "smtp"\n', "must be letters, digits"),
        (
            '[accounts.a]\ntype = "smtp"\nfallback = "b"\n',
            "accounts.a.fallback = 'b' is not an account",
        ),
    ],
)
def test_a_bad_config_names_the_key_and_the_file(tmp_path: Path, toml: str, expected: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_an_explicit_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_no_config_file_means_defaults_with_sqlite_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    cfg = load_config()
    assert cfg.accounts == {}
    assert (
        cfg.effective_database_url()
        == f"sqlite:///{tmp_path / 'data' / 'mailconsole' / 'mailconsole.db'}"
    )


def test_database_url_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCONSOLE_DATABASE_URL", "postgresql://u@h/db")
    assert (
        make_config(database_url="sqlite:////x.db").effective_database_url()
        == "postgresql://u@h/db"
    )


def test_secret_env_var_name_is_upper_case_with_underscores() -> None:
    assert env_var_for("postmark-main") == "MAILCONSOLE_SECRET_POSTMARK_MAIN"
    assert env_var_for("smtp.relay-2") == "MAILCONSOLE_SECRET_SMTP_RELAY_2"


def test_environment_secret_wins_over_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    store = SecretStore()
    store.set("postmark-main", "from-keyring")
    assert store.get("postmark-main") == "from-keyring"
    assert store.status("postmark-main").source is SecretSource.KEYRING
    monkeypatch.setenv("MAILCONSOLE_SECRET_POSTMARK_MAIN", "from-env")
    assert store.get("postmark-main") == "from-env"
    assert store.status("postmark-main").source is SecretSource.ENVIRONMENT
    assert store.delete("postmark-main") is True
    assert store.delete("postmark-main") is False


def test_headless_host_without_keyring_falls_back_to_env_and_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyring.set_keyring(fail.Keyring())
    store = SecretStore()
    assert store.get("postmark-main") is None
    status = store.status("postmark-main")
    assert status.source is SecretSource.MISSING and not status.keyring_usable
    assert (
        "MAILCONSOLE_SECRET_POSTMARK_MAIN" in status.detail and "keyring backend" in status.detail
    )
    with pytest.raises(SecretError, match="export MAILCONSOLE_SECRET_POSTMARK_MAIN"):
        store.set("postmark-main", "x")
    with pytest.raises(SecretError, match="mailconsole secrets set postmark-main"):
        store.require("postmark-main")
    monkeypatch.setenv("MAILCONSOLE_SECRET_POSTMARK_MAIN", "tok")
    assert store.get("postmark-main") == "tok"
