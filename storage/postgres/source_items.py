"""The PostgreSQL SourceStore's second half: the items sources listed, which article came from which source,
and near-duplicate clusters (source_items, article_sources, article_clusters; the duplicate look-ups read
`articles`). A mixin of `SourceRepository` (storage/postgres/sources.py), split off so that each module reads
in one sitting; the statements here are also the building blocks of `save_poll`'s one transaction.

Lists go to the server as one array parameter (`= ANY($1::bigint[])`), so no IN list is built or chunked.
Rows that several instances may insert at once are inserted in sorted order, so two transactions never wait
on each other's unique keys in opposite orders (a deadlock)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime

import asyncpg

from bot.archive.models import Article
from bot.archive.urls import normalize_url
from bot.sources.clustering import Sketch
from bot.sources.records import Cluster
from storage.postgres.database import Connection, PgDatabase

# `db.fetch` or a transaction's `conn.fetch`: the look-ups run alone or inside save_poll's transaction.
Fetch = Callable[..., Awaitable[Sequence[asyncpg.Record]]]

_INSERT_ITEMS = (
    "INSERT INTO source_items (source_id, item_key, first_seen_at)"
    " SELECT $1, key, $3 FROM unnest($2::text[]) AS key ON CONFLICT DO NOTHING"
)
_INSERT_LINKS = (
    "INSERT INTO article_sources (article_id, source_id, first_seen_at)"
    " SELECT article_id, $1, $3 FROM unnest($2::bigint[]) AS article_id ON CONFLICT DO NOTHING"
)
_UPSERT_CLUSTER = (
    "INSERT INTO article_clusters (article_id, cluster_id, source, published_at, signature)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (article_id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id,"
    " source = EXCLUDED.source, published_at = EXCLUDED.published_at, signature = EXCLUDED.signature"
)


def db_time(moment: datetime) -> datetime:
    """A moment as both backends store it: UTC, whole seconds (SQLite keeps ISO text with seconds, so the
    same comparisons give the same answers here). A naive datetime is refused, as on SQLite."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).replace(microsecond=0)


class SourceItems:
    """Items, provenance and clusters: the methods of SourceStore that are not about a source's own row."""

    db: PgDatabase

    async def known_items(self, source_id: int, keys: Iterable[str]) -> set[str]:
        """The keys among `keys` this source has listed before."""
        rows = await self.db.fetch(
            "SELECT item_key FROM source_items WHERE source_id = $1 AND item_key = ANY($2::text[])",
            source_id,
            list(dict.fromkeys(keys)),
        )
        return {row[0] for row in rows}

    async def remember_items(
        self, source_id: int, keys: Iterable[str], article_ids: Iterable[int], *, now: datetime
    ) -> None:
        """Record listed item keys and link the articles the source brought in, in one transaction."""
        async with self.db.transaction() as conn:
            await remember(conn, source_id, keys, article_ids, db_time(now))

    async def articles_of(self, source_id: int) -> list[int]:
        rows = await self.db.fetch(
            "SELECT article_id FROM article_sources WHERE source_id = $1 ORDER BY article_id", source_id
        )
        return [row[0] for row in rows]

    # --- clusters ---------------------------------------------------------------------------------------

    async def sketches_between(self, since: datetime, until: datetime) -> list[tuple[int, int, Sketch]]:
        """(article id, cluster id, sketch) of clustered articles published in [since, until]."""
        rows = await self.db.fetch(
            "SELECT article_id, cluster_id, signature FROM article_clusters"
            " WHERE published_at BETWEEN $1 AND $2 ORDER BY article_id",
            db_time(since),
            db_time(until),
        )
        return [(row[0], row[1], Sketch.from_bytes(row[2])) for row in rows]

    async def save_clusters(self, rows: Sequence[tuple[int, int, str, datetime, Sketch]]) -> None:
        """Store (article id, cluster id, source name, published at, sketch) rows."""
        # INSERT OR REPLACE on SQLite: the last row of an article wins. One upsert per article, in id order.
        latest = {row[0]: row for row in rows}
        async with self.db.transaction() as conn:
            await conn.executemany(
                _UPSERT_CLUSTER,
                [
                    (article_id, cluster_id, source, db_time(published_at), sketch.to_bytes())
                    for article_id, (_, cluster_id, source, published_at, sketch) in sorted(latest.items())
                ],
            )

    # --- articles, by the archive's duplicate rules -----------------------------------------------------

    async def ids_by_hash(self, article_ids: Sequence[int]) -> dict[str, int]:
        """content hash -> id of the given stored articles (to tell which of a batch were the new ones)."""
        return await ids_by_hash(self.db.fetch, article_ids)

    async def stored_article_ids(self, articles: Sequence[Article]) -> list[int]:
        """Ids of the stored articles these are duplicates of, by the archive's rules: the same normalized
        URL or the same content hash."""
        return await stored_ids(self.db.fetch, articles)

    async def stored_urls(self, urls: Sequence[str]) -> set[str]:
        """The URLs among `urls` whose article is stored (the archive's rule: the same normalized URL)."""
        normalized = {url: normalize_url(url) for url in urls}
        rows = await self.db.fetch(
            "SELECT url_normalized FROM articles WHERE url_normalized = ANY($1::text[])",
            sorted(set(normalized.values())),
        )
        found = {row[0] for row in rows}
        return {url for url, key in normalized.items() if key in found}

    async def clusters_for(self, article_ids: Iterable[int]) -> dict[int, Cluster]:
        """For each given article that has near-duplicates or was carried by several sources: its cluster
        (all members) and the names of the other sources that carried the story."""
        wanted = list(dict.fromkeys(article_ids))
        if not wanted:
            return {}
        fetch = self.db.fetch
        own_cluster: dict[int, int] = {
            row[0]: row[1]
            for row in await fetch(
                "SELECT article_id, cluster_id FROM article_clusters WHERE article_id = ANY($1::bigint[])",
                wanted,
            )
        }
        members: defaultdict[int, dict[int, str]] = defaultdict(dict)
        for row in await fetch(
            "SELECT cluster_id, article_id, source FROM article_clusters WHERE cluster_id = ANY($1::bigint[])",
            sorted(set(own_cluster.values())),
        ):
            members[row[0]][row[1]] = row[2]
        # Articles stored by `ingest` have no cluster row: each is its own one-member cluster.
        unclustered = [article_id for article_id in wanted if article_id not in own_cluster]
        for row in await fetch("SELECT id, source FROM articles WHERE id = ANY($1::bigint[])", unclustered):
            own_cluster[row[0]] = row[0]
            members[row[0]] = {row[0]: row[1]}
        every_member = sorted({member for group in members.values() for member in group})
        carried_by: defaultdict[int, list[str]] = defaultdict(list)
        for row in await fetch(
            "SELECT l.article_id, s.name FROM article_sources AS l JOIN sources AS s ON s.id = l.source_id"
            " WHERE l.article_id = ANY($1::bigint[]) ORDER BY s.id",
            every_member,
        ):
            carried_by[row[0]].append(row[1])
        result: dict[int, Cluster] = {}
        for article_id in wanted:
            cluster_id = own_cluster.get(article_id)
            if cluster_id is None:
                continue
            group = members[cluster_id]
            own_source = group[article_id]
            names = [name for member in sorted(group) for name in (group[member], *carried_by[member])]
            others = tuple(dict.fromkeys(name for name in names if name != own_source))
            if len(group) >= 2 or others:
                result[article_id] = Cluster(cluster_id, tuple(sorted(group)), others)
        return result


# --- statements shared by the single-call methods and the poll's one transaction ---------------------------


async def ids_by_hash(fetch: Fetch, article_ids: Sequence[int]) -> dict[str, int]:
    rows = await fetch(
        "SELECT id, content_hash FROM articles WHERE id = ANY($1::bigint[])", list(article_ids)
    )
    return {row[1]: row[0] for row in rows}


async def stored_ids(fetch: Fetch, articles: Sequence[Article]) -> list[int]:
    hashes = sorted({article.content_hash for article in articles})
    urls = sorted({normalize_url(article.url) for article in articles if article.url})
    rows = await fetch(
        "SELECT id FROM articles WHERE content_hash = ANY($1::text[])"
        " UNION SELECT id FROM articles WHERE url_normalized = ANY($2::text[]) ORDER BY id",
        hashes,
        urls,
    )
    return [row[0] for row in rows]


async def remember(
    conn: Connection,
    source_id: int,
    keys: Iterable[str],
    article_ids: Iterable[int],
    moment: datetime,
) -> None:
    await conn.execute(_INSERT_ITEMS, source_id, sorted(set(keys)), moment)
    await conn.execute(_INSERT_LINKS, source_id, sorted(set(article_ids)), moment)
