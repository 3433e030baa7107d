"""The aiosqlite database: migrations and repositories. The only package that holds SQL."""

from storage.database import Database

__all__ = ["Database"]
