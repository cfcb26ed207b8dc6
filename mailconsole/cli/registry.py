"""The command modules, each defining `register(group)`; add a module here to add commands."""

from __future__ import annotations

import importlib

import click

MODULES = [
    "mailconsole.cli.commands_alerts",
    "mailconsole.cli.commands_audit",
    "mailconsole.cli.commands_campaigns",
    "mailconsole.cli.commands_config",
    "mailconsole.cli.commands_db",
    "mailconsole.cli.commands_logs",
    "mailconsole.cli.commands_ops",
    "mailconsole.cli.commands_queue",
    "mailconsole.cli.commands_retention",
    "mailconsole.cli.commands_secrets",
    "mailconsole.cli.commands_send",
    "mailconsole.cli.commands_worker",
    "mailconsole.cli.commands_demo",
]


def register_all(group: click.Group) -> None:
    for name in MODULES:
        importlib.import_module(name).register(group)
