"""The article archive: articles, their topics, and a contentless FTS5 index over the stemmed text.

FTS rowid is a recency key, not the article id: `published_at * 2**31 + id` (see storage/articles.py).
Matches come out of FTS5 newest first by walking rowids backwards, so search can stop after the newest K
matches instead of ranking all of them, and a date range is a rowid range FTS5 seeks to directly.
The index is contentless (content=''): snippets are made from the original text in `articles`, so the
stemmed text is not stored twice. detail=full keeps positions for "exact phrase" queries.
Column `tags` holds filter tokens (`topicgovernor`, ...) so topic filters are part of the MATCH.
"""

from __future__ import annotations

SQL = """
CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    lead TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',           -- paragraphs joined with a blank line
    published_at INTEGER NOT NULL,           -- unix seconds, UTC
    views INTEGER,
    source TEXT NOT NULL,
    url TEXT,
    url_normalized TEXT UNIQUE,              -- bot.archive.urls.normalize_url(url); NULL when there is no URL
    content_hash TEXT NOT NULL UNIQUE,
    topics TEXT NOT NULL DEFAULT '',         -- space-separated topic names (also in article_topics)
    is_gov_commission INTEGER NOT NULL DEFAULT 0,
    ingested_at INTEGER NOT NULL             -- unix seconds, UTC
);
CREATE INDEX articles_published_at ON articles (published_at);
CREATE INDEX articles_gov_published_at ON articles (is_gov_commission, published_at);
CREATE INDEX articles_source ON articles (source);

CREATE TABLE article_topics (
    topic TEXT NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    PRIMARY KEY (topic, article_id)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE articles_fts USING fts5 (
    title, lead, body, tags,
    content = '',
    detail = full,
    tokenize = 'unicode61 remove_diacritics 0'
);
"""
