"""Articles deleted from the table (by an operator's SQL: the application never deletes one) are remembered
until the ranking index beside the file (storage/search_index.py) has dropped them too."""

SQL = """
CREATE TABLE search_index_deletions (
    article_id  INTEGER PRIMARY KEY
);
CREATE TRIGGER articles_leave_the_search_index AFTER DELETE ON articles BEGIN
    INSERT OR IGNORE INTO search_index_deletions (article_id) VALUES (old.id);
END;
"""
