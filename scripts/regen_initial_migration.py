"""Migration 0001 is frozen: this script no longer regenerates it.

It was regenerated from the models while no schema had been built on top of it. Since migration
0002 (attempt_hourly and its triggers) databases are upgraded step by step, so a schema change is
a new hand-written migration in mailconsole/store/migrations/versions/ (000N_what.py, revision
"000N", down_revision the previous head); tests/test_store.py checks models == migrations.

Usage: python scripts/regen_initial_migration.py  (prints this and exits with status 1)
"""

from __future__ import annotations

import sys

sys.exit(
    "migration 0001 is frozen and is not regenerated: write the schema change as a new "
    "migration in mailconsole/store/migrations/versions/ (see 0002_attempt_hourly.py), then run "
    "pytest tests/test_store.py"
)
