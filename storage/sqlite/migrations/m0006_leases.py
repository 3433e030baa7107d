"""Named leases: who may run a once-per-database duty (`delivery`: digest delivery; `poller`: source polling)
and until when. Replaces the single-row `delivery_lease`."""

SQL = """
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO leases (name, holder, expires_at) SELECT 'delivery', holder, expires_at FROM delivery_lease;
DROP TABLE delivery_lease;
"""
