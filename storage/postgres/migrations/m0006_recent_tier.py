"""The recent tier of the archive's search index (storage/postgres/articles.py, "Frequent words"): the newest
articles' vectors again, in `recent_articles` with its own GIN index, so a search for frequent words reads
posting lists of tens of thousands of articles, not of the whole archive.

Invariant: `recent_articles` holds every article published at or after `recent_tier.floor`, and only those.
A statement-level trigger keeps it on every insert into `articles` (add_many and `govdigest db copy` alike),
in the inserting transaction: new articles at or after the floor go in; when the tier holds more than twice
`target`, the floor moves up to the `target`-th newest article and the older rows leave. The floor only
rises; an article older than it (a backfill of old news) is only in `articles`. Articles are never updated or
deleted except by ON DELETE CASCADE, which removes their tier row too. The tier row is locked FOR UPDATE by
the trigger, so two inserting transactions keep the counts right (add_many also holds ARCHIVE_WRITE_LOCK).
"""

SQL = """
CREATE TABLE recent_articles (
    id            bigint      PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    published_at  timestamptz NOT NULL,
    search        tsvector    NOT NULL,
    head          tsvector    NOT NULL,
    long_stems    text
);
-- A small pending list (256 kB, the default is 4 MB): new articles go in cheaply in bulk, and a search reads
-- at most that much of it.
CREATE INDEX recent_articles_search ON recent_articles USING gin (search)
    WITH (fastupdate = on, gin_pending_list_limit = 256);
-- No (published_at) index on purpose: walking it newest first reads a whole vector per article, which costs
-- more than taking the GIN matches and keeping the newest (a top-N sort over tens of thousands of rows).

CREATE TABLE recent_tier (
    single  boolean     PRIMARY KEY DEFAULT true CHECK (single),
    floor   timestamptz NOT NULL,   -- recent_articles holds every article published at or after this
    rows    bigint      NOT NULL,   -- the rows of recent_articles
    target  bigint      NOT NULL CHECK (target > 0)
);
INSERT INTO recent_tier (single, floor, rows, target) VALUES (true, '-infinity', 0, 30000);

-- An archive that exists already: its newest `target` articles (and any published at the same moment).
UPDATE recent_tier SET floor = coalesce(
    (SELECT published_at FROM articles ORDER BY published_at DESC, id DESC OFFSET 29999 LIMIT 1), '-infinity');
INSERT INTO recent_articles (id, published_at, search, head, long_stems)
    SELECT id, published_at, search, head, long_stems FROM articles
    WHERE published_at >= (SELECT floor FROM recent_tier);
UPDATE recent_tier SET rows = (SELECT count(*) FROM recent_articles);

CREATE FUNCTION recent_tier_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tier       recent_tier%ROWTYPE;
    changed    bigint;
    new_floor  timestamptz;
BEGIN
    SELECT * INTO tier FROM recent_tier FOR UPDATE;
    INSERT INTO recent_articles (id, published_at, search, head, long_stems)
        SELECT n.id, n.published_at, n.search, n.head, n.long_stems FROM new_rows AS n
        WHERE n.published_at >= tier.floor;
    GET DIAGNOSTICS changed = ROW_COUNT;
    tier.rows := tier.rows + changed;
    IF tier.rows > 2 * tier.target THEN
        SELECT r.published_at INTO new_floor FROM recent_articles AS r
            ORDER BY r.published_at DESC, r.id DESC OFFSET tier.target - 1 LIMIT 1;
        DELETE FROM recent_articles AS r WHERE r.published_at < new_floor;
        GET DIAGNOSTICS changed = ROW_COUNT;
        tier.rows := tier.rows - changed;
        tier.floor := new_floor;
    END IF;
    UPDATE recent_tier SET floor = tier.floor, rows = tier.rows;
    RETURN NULL;
END
$$;

CREATE TRIGGER articles_recent_tier AFTER INSERT ON articles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION recent_tier_add();
"""
