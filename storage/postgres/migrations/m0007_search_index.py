"""The archive is ranked by each instance's own tantivy index (storage/search_index.py), caught up from the
`articles` table like the SQLite archive's: the recent tier of migration 6 (the newest articles' vectors again,
for the newest-window ranking it replaces) goes, and deleted articles are logged for the indexes.

`search_index_deletions` is a log, not a queue: several instances each drop the logged articles from their own
index and remember how far they have read (`seq`), so no instance removes a row another still needs. The
application never deletes an article; an operator's DELETE is logged by the trigger (a TRUNCATE is not, and
is found by the count check every index makes at start).
"""

SQL = """
DROP TRIGGER articles_recent_tier ON articles;
DROP FUNCTION recent_tier_add();
DROP TABLE recent_articles;
DROP TABLE recent_tier;

CREATE TABLE search_index_deletions (
    seq         bigserial   PRIMARY KEY,
    article_id  bigint      NOT NULL
);
CREATE FUNCTION articles_leave_the_search_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_index_deletions (article_id) VALUES (OLD.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER articles_leave_the_search_index AFTER DELETE ON articles
    FOR EACH ROW EXECUTE FUNCTION articles_leave_the_search_index();
"""
