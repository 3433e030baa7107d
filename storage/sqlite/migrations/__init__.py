"""Schema migrations, applied in order by `PRAGMA user_version`.

Each module `mNNNN_<name>.py` in this package defines `SQL` (a script of DDL statements, no BEGIN/COMMIT);
its number is its version. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from storage.migration_files import Migration, discover

__all__ = ["MIGRATIONS", "Migration"]

MIGRATIONS: tuple[Migration, ...] = discover(__name__, __path__)
