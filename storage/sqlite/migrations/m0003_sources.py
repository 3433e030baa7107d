"""Sources: polled feeds and news-list pages, their health, which article came from which source, and
near-duplicate clusters (the same press release reposted by several sites).

Times are ISO 8601 UTC text with seconds (`2026-11-26T06:00:00+00:00`): one format, so they compare as
strings.
"""

SQL = """
CREATE TABLE sources (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT    NOT NULL,
    url                   TEXT    NOT NULL UNIQUE,
    kind                  TEXT    NOT NULL CHECK (kind IN ('rss', 'html')),
    poll_interval_seconds INTEGER NOT NULL DEFAULT 900 CHECK (poll_interval_seconds >= 60),
    enabled               INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    etag                  TEXT,
    last_modified         TEXT,
    created_at            TEXT    NOT NULL,
    last_polled_at        TEXT,
    last_success_at       TEXT,
    last_error            TEXT,
    last_error_at         TEXT,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    consecutive_empty     INTEGER NOT NULL DEFAULT 0,
    items_last_poll       INTEGER,
    new_last_poll         INTEGER,
    total_new             INTEGER NOT NULL DEFAULT 0,
    next_poll_at          TEXT    NOT NULL,
    -- an admin alert is sent once per episode; the flag is cleared when the source recovers
    alerted_failing       INTEGER NOT NULL DEFAULT 0,
    alerted_empty         INTEGER NOT NULL DEFAULT 0,
    -- where the last fetch ended up after redirects (NULL when the URL answered itself)
    redirect_url          TEXT
);
CREATE INDEX sources_due ON sources (enabled, next_poll_at);

-- Facts about the sources feature itself; `defaults_loaded` is set once, so removing every source
-- does not bring the default file back at the next start.
CREATE TABLE sources_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Every item a source has listed, by its stable key (GUID, else link, else title+date hash), so an item
-- seen once is never parsed, fetched or stored again by that source.
CREATE TABLE source_items (
    source_id     INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    item_key      TEXT    NOT NULL,
    first_seen_at TEXT    NOT NULL,
    PRIMARY KEY (source_id, item_key)
) WITHOUT ROWID;

-- Which source brought which article (an article reposted by several sources has several rows).
CREATE TABLE article_sources (
    article_id    INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    source_id     INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    first_seen_at TEXT    NOT NULL,
    PRIMARY KEY (article_id, source_id)
) WITHOUT ROWID;
CREATE INDEX article_sources_source ON article_sources (source_id);

-- Near-duplicate clusters on title + lead. cluster_id is the id of the cluster's first article.
-- `source` and `published_at` are copied from the article so the digest's "also: N sources" and the
-- clustering window need no join; `signature` is the MinHash signature (little-endian uint32s).
CREATE TABLE article_clusters (
    article_id   INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    cluster_id   INTEGER NOT NULL,
    source       TEXT    NOT NULL,
    published_at TEXT    NOT NULL,
    signature    BLOB    NOT NULL
);
CREATE INDEX article_clusters_cluster ON article_clusters (cluster_id);
CREATE INDEX article_clusters_published ON article_clusters (published_at);
"""
