"""What several instances must share to keep limits that a single process keeps in memory
(storage/postgres/shared_limits.py): the bot token's overall send rate (the moment of the last slot handed
out) and per-key token buckets (per-user flood throttling, the group /digest cooldown)."""

SQL = """
CREATE TABLE send_slots (
    id         integer     PRIMARY KEY CHECK (id = 1),
    last_slot  timestamptz NOT NULL
);
INSERT INTO send_slots (id, last_slot) VALUES (1, '-infinity');

CREATE TABLE usage_limits (
    key         text             PRIMARY KEY,
    tokens      double precision NOT NULL,
    refusals    integer          NOT NULL DEFAULT 0,
    updated_at  timestamptz      NOT NULL
);
CREATE INDEX usage_limits_updated ON usage_limits (updated_at);
"""
