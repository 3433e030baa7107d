"""The one error type the application catches from storage: the database cannot be opened or reached. Its
message says which database and why, without credentials."""


class StorageError(RuntimeError):
    """The database cannot be opened, migrated or reached."""


class StorageUnavailable(StorageError):
    """The database was there and is not now (a server restarting, the network gone): the work is retried
    later, and the backend logs the outage once, not once per failed statement."""
