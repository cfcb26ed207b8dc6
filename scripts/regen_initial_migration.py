"""Regenerate migration 0001 from the models (only while no release has shipped).

Usage: python scripts/regen_initial_migration.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from mailconsole.store.db import MIGRATIONS_DIR, Database

versions = MIGRATIONS_DIR / "versions"
for old in versions.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    db = Database(f"sqlite:///{Path(tmp) / 'empty.db'}")
    cfg = db._alembic_config()
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
print("wrote", *versions.glob("0001_*.py"))
