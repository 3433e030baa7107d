"""Chats, their digest subscriptions and saved queries, and the delivery outbox.

Times are ISO 8601 UTC text with seconds (`2026-11-26T06:00:00+00:00`): one format, so they compare as
strings.
Every table that names a chat references `chats(id)` with ON UPDATE CASCADE, so rewriting a chat id after a
group became a supergroup is one UPDATE that reaches everything.
"""

SQL = """
CREATE TABLE chats (
    id               INTEGER PRIMARY KEY,
    type             TEXT    NOT NULL CHECK (type IN ('private', 'group', 'supergroup', 'channel')),
    title            TEXT,
    username         TEXT,
    locale           TEXT    NOT NULL DEFAULT 'ru',
    active           INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    inactive_reason  TEXT,
    timezone         TEXT    NOT NULL DEFAULT 'Europe/Moscow',
    -- local wall-clock time of delivery, minutes after midnight
    delivery_minute  INTEGER NOT NULL DEFAULT 540 CHECK (delivery_minute BETWEEN 0 AND 1439),
    frequency        TEXT    NOT NULL DEFAULT 'daily' CHECK (frequency IN ('daily', 'weekdays', 'weekly')),
    -- for weekly: 0 = Monday … 6 = Sunday (datetime.weekday())
    weekday          INTEGER NOT NULL DEFAULT 0 CHECK (weekday BETWEEN 0 AND 6),
    -- NULL = all items
    max_items        INTEGER CHECK (max_items IS NULL OR max_items > 0),
    notify_empty     INTEGER NOT NULL DEFAULT 0 CHECK (notify_empty IN (0, 1)),
    paused           INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    -- end of the period the last digest covered (the next digest starts here)
    last_period_end  TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);

-- The chat's digest of government commission news (on/off) and when it (re)subscribed: the schedule anchor.
CREATE TABLE subscriptions (
    chat_id     INTEGER PRIMARY KEY REFERENCES chats (id) ON UPDATE CASCADE ON DELETE CASCADE,
    gov_news    INTEGER NOT NULL DEFAULT 0 CHECK (gov_news IN (0, 1)),
    since       TEXT,
    updated_at  TEXT    NOT NULL
);

-- Saved queries (canonical SearchQuery.text); `enabled = 0` keeps an unsubscribed one for a comeback.
CREATE TABLE saved_queries (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats (id) ON UPDATE CASCADE ON DELETE CASCADE,
    query_text  TEXT    NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  TEXT    NOT NULL,
    UNIQUE (chat_id, query_text)
);

CREATE TABLE broadcasts (
    id          INTEGER PRIMARY KEY,
    text        TEXT    NOT NULL,
    created_by  INTEGER,
    created_at  TEXT    NOT NULL
);

-- One job per (chat, digest period) or (chat, broadcast): the UNIQUE key makes job creation idempotent.
CREATE TABLE outbox_jobs (
    id               INTEGER PRIMARY KEY,
    chat_id          INTEGER NOT NULL REFERENCES chats (id) ON UPDATE CASCADE ON DELETE CASCADE,
    kind             TEXT    NOT NULL CHECK (kind IN ('digest', 'broadcast')),
    period_key       TEXT    NOT NULL,
    period_start     TEXT,
    period_end       TEXT,
    broadcast_id     INTEGER REFERENCES broadcasts (id) ON DELETE SET NULL,
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'inactive')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    last_error       TEXT,
    -- ranked article ids of the whole digest (JSON list), for the "next page" button
    items            TEXT,
    -- items per page of that digest (NULL = all on the first page)
    page_size        INTEGER,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    finished_at      TEXT,
    UNIQUE (chat_id, kind, period_key)
);
CREATE INDEX outbox_jobs_ready ON outbox_jobs (state, next_attempt_at);

-- The rendered messages of a job, sent in `seq` order. `sending` is written (and committed) before the
-- request; `message_id` right after Telegram accepted it. A part found `sending` after a crash was in flight:
-- it becomes `uncertain` and is not sent again (see bot/digest/sender.py).
CREATE TABLE outbox_parts (
    job_id        INTEGER NOT NULL REFERENCES outbox_jobs (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    text          TEXT    NOT NULL,
    reply_markup  TEXT,
    state         TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sending', 'sent', 'uncertain')),
    message_id    INTEGER,
    sent_at       TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- At most one process delivers at a time (crash recovery assumes so): its id and when its claim lapses.
CREATE TABLE delivery_lease (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL
);

-- One row per delivery run (scheduled cycle, run-due, broadcast) for /stats.
CREATE TABLE fanouts (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    finished_at  TEXT,
    jobs         INTEGER NOT NULL DEFAULT 0,
    sent         INTEGER NOT NULL DEFAULT 0,
    retried      INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    messages     INTEGER NOT NULL DEFAULT 0
);
"""
