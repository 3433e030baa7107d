"""Search queries under short keys (the page buttons' callback data), shared by every instance and kept across
restarts until the key expires (storage/postgres/search_keys.py)."""

SQL = """
CREATE TABLE search_keys (
    key         text        PRIMARY KEY,
    query_text  text        NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX search_keys_expiry ON search_keys (expires_at);
"""
