"""Search queries under short keys (the page buttons' callback data), kept in the database so a button works
after a restart, until the key expires (storage/sqlite/search_keys.py)."""

SQL = """
CREATE TABLE search_keys (
    key         TEXT PRIMARY KEY,
    query_text  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX search_keys_expiry ON search_keys (expires_at);
"""
