"""PostgreSQL schema migrations, applied in order and recorded in `schema_version`
(storage/postgres/database.py).

Each module `mNNNN_<name>.py` in this package defines `SQL` (DDL statements, no BEGIN/COMMIT: each migration
runs in its own transaction); its number is its version. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from storage.migration_files import Migration, discover

__all__ = ["MIGRATIONS", "Migration"]

MIGRATIONS: tuple[Migration, ...] = discover(__name__, __path__)
