"""The one error type the application catches from storage: the database cannot be opened or reached. Its
message says which database and why, without credentials."""


class StorageError(RuntimeError):
    """The database cannot be opened, migrated or reached."""
