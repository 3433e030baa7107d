"""The archive's vocabulary: one row per index token with the number of articles whose index holds it (in any
column), read live from the FTS5 index (no copy, nothing to keep up to date). "Did you mean" asks it for the
document frequencies of a query word's one-edit neighbours (storage/sqlite/vocab.py)."""

SQL = """
CREATE VIRTUAL TABLE articles_vocab USING fts5vocab(articles_fts, row);
"""
