"""The bot token's overall send rate, shared by every instance: the moment of the last slot handed out
(storage/postgres/send_slots.py)."""

SQL = """
CREATE TABLE send_slots (
    id         integer     PRIMARY KEY CHECK (id = 1),
    last_slot  timestamptz NOT NULL
);
INSERT INTO send_slots (id, last_slot) VALUES (1, '-infinity');
"""
