from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from bot.archive.models import Article
from bot.archive.parsing import make_article
from bot.sources.clustering import sketch
from bot.sources.records import (
    EMPTY_POLLS_ALERT,
    FAILURES_ALERT,
    MAX_BACKOFF_SECONDS,
    AlertKind,
    NewSource,
    PollSuccess,
    Source,
    SourceExistsError,
    SourceKind,
    backoff_seconds,
)
from storage import Storage
from storage.interfaces import SourceStore
from storage.postgres import PostgresStorage

NOW = datetime(2025, 9, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def repo(storage: Storage) -> SourceStore:
    return storage.sources


async def _add(repo: SourceStore, url: str = "http://government.ru/all/rss/", **options: object) -> Source:
    return await repo.add(NewSource(url=url, name=options.pop("name", "Правительство"), **options), now=NOW)  # type: ignore[arg-type]


async def test_add_list_get_remove(repo: SourceStore) -> None:
    source = await _add(repo, kind=SourceKind.RSS)
    other = await _add(repo, "https://tularegion.ru/press_center/news/", name="Тула", kind=SourceKind.HTML)
    assert source.kind is SourceKind.RSS and source.enabled and source.next_poll_at == NOW
    assert source.last_success_at is None and source.consecutive_failures == 0
    assert [s.id for s in await repo.list_all()] == [source.id, other.id]
    assert await repo.get_by_url("https://tularegion.ru/press_center/news/") == other
    with pytest.raises(SourceExistsError):
        await _add(repo)
    assert await repo.remove(source.id) and not await repo.remove(source.id)
    assert await repo.count() == 1


async def test_interval_has_a_floor(repo: SourceStore) -> None:
    with pytest.raises(ValueError, match="at least"):
        await _add(repo, poll_interval_seconds=5)


async def test_defaults_only_fill_an_empty_table(repo: SourceStore) -> None:
    defaults = [NewSource(url=f"https://x{n}.gov.ru/rss", name=f"X{n}") for n in range(3)]
    assert await repo.add_defaults(defaults, now=NOW) == 3
    assert await repo.add_defaults([NewSource(url="https://y.ru/rss", name="Y")], now=NOW) == 0
    assert await repo.count() == 3
    for source in await repo.list_all():
        await repo.remove(source.id)
    assert await repo.add_defaults(defaults, now=NOW) == 0  # removing them all does not bring them back


async def test_sources_added_before_the_first_start_win(repo: SourceStore) -> None:
    await _add(repo)
    assert await repo.add_defaults([NewSource(url="https://y.ru/rss", name="Y")], now=NOW) == 0
    await repo.remove(1)
    assert await repo.add_defaults([NewSource(url="https://y.ru/rss", name="Y")], now=NOW) == 0


async def test_due_disabled_and_enable(repo: SourceStore) -> None:
    source = await _add(repo)
    assert [s.id for s in await repo.due(NOW)] == [source.id]
    assert await repo.set_enabled(source.id, False, now=NOW)
    assert await repo.due(NOW) == []
    assert [s.id for s in await repo.due(NOW, source_ids=[source.id])] == [
        source.id
    ]  # explicit ids: due or not
    assert await repo.set_enabled(source.id, True, now=NOW)
    assert not await repo.set_enabled(999, True)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (0, 900),
        (1, 1800),
        (2, 3600),
        (5, 28800),
        (6, 57600),
        (7, MAX_BACKOFF_SECONDS),
        (40, MAX_BACKOFF_SECONDS),
    ],
)
def test_backoff_doubles_up_to_a_day(failures: int, delay: int) -> None:
    assert backoff_seconds(900, failures) == delay


async def test_failures_back_off_and_success_resets(repo: SourceStore) -> None:
    source = await _add(repo)
    for failures in (1, 2, 3):
        assert await repo.record_failure(source, now=NOW, error="HTTP 503 Service Unavailable") == failures
        source = await repo.get(source.id)  # type: ignore[assignment]
    assert source.consecutive_failures == 3 and source.last_error == "HTTP 503 Service Unavailable"
    assert source.next_poll_at == NOW + timedelta(seconds=900 * 8)
    assert await repo.due(NOW + timedelta(hours=1)) == []
    await repo.record_success(
        source,
        now=NOW,
        items=10,
        new=4,
        etag='"abc"',
        last_modified="Wed, 27 Jul 2022 08:01:01 GMT",
        redirect_url=None,
    )
    healed = await repo.get(source.id)
    assert healed is not None and healed.consecutive_failures == 0 and healed.last_success_at == NOW
    assert (healed.items_last_poll, healed.new_last_poll, healed.total_new) == (10, 4, 4)
    assert healed.etag == '"abc"' and healed.next_poll_at == NOW + timedelta(seconds=900)


async def test_not_modified_keeps_counts_and_validators(repo: SourceStore) -> None:
    source = await _add(repo)
    await repo.record_success(
        source, now=NOW, items=0, new=0, etag='"e1"', last_modified=None, redirect_url=None
    )
    source = await repo.get(source.id)  # type: ignore[assignment]
    await repo.record_success(
        source, now=NOW, items=None, new=0, etag=None, last_modified=None, redirect_url=None
    )
    after = await repo.get(source.id)
    assert after is not None and after.etag == '"e1"' and after.items_last_poll == 0
    assert after.consecutive_empty == 1  # a 304 neither counts as empty nor resets


async def _poll_empty(repo: SourceStore, source_id: int) -> None:
    source = await repo.get(source_id)
    assert source is not None
    await repo.record_success(
        source, now=NOW, items=0, new=0, etag=None, last_modified=None, redirect_url=None
    )


async def _poll_failing(repo: SourceStore, source_id: int) -> None:
    source = await repo.get(source_id)
    assert source is not None
    await repo.record_failure(source, now=NOW, error="timed out")


async def test_empty_alert_once_per_episode(repo: SourceStore) -> None:
    source = await _add(repo)
    for _ in range(EMPTY_POLLS_ALERT - 1):
        await _poll_empty(repo, source.id)
    assert await repo.pending_alerts() == []
    await _poll_empty(repo, source.id)
    (alert,) = await repo.pending_alerts()
    assert alert.kind is AlertKind.EMPTY and alert.source.consecutive_empty == EMPTY_POLLS_ALERT
    await repo.mark_alerted(source.id, AlertKind.EMPTY)
    await _poll_empty(repo, source.id)
    assert await repo.pending_alerts() == []  # still empty: not again
    current = await repo.get(source.id)
    assert current is not None
    await repo.record_success(
        current, now=NOW, items=5, new=5, etag=None, last_modified=None, redirect_url=None
    )
    for _ in range(EMPTY_POLLS_ALERT):
        await _poll_empty(repo, source.id)
    assert [a.kind for a in await repo.pending_alerts()] == [AlertKind.EMPTY]  # a new episode after recovery


async def test_failing_alert_once_and_disabled_sources_are_quiet(repo: SourceStore) -> None:
    source = await _add(repo)
    for _ in range(FAILURES_ALERT):
        await _poll_failing(repo, source.id)
    assert [a.kind for a in await repo.pending_alerts()] == [AlertKind.FAILING]
    await repo.mark_alerted(source.id, AlertKind.FAILING)
    await _poll_failing(repo, source.id)
    assert await repo.pending_alerts() == []
    await repo.set_enabled(source.id, False)
    assert await repo.pending_alerts() == []


async def test_known_items_and_links(storage: Storage, repo: SourceStore) -> None:
    source = await _add(repo)
    article = make_article(
        title="Заседание комиссии",
        lead="Текст",
        body=["Абзац"],
        published_at=NOW,
        views=None,
        source=source.name,
        url="https://government.ru/news/1/",
    )
    (article_id,) = (await storage.articles.add_many([article])).new_ids
    await repo.remember_items(source.id, ["guid:1", "guid:2"], [article_id], now=NOW)
    await repo.remember_items(source.id, ["guid:2"], [article_id], now=NOW)  # idempotent
    assert await repo.known_items(source.id, ["guid:1", "guid:3", "guid:2"]) == {"guid:1", "guid:2"}
    assert await repo.known_items(source.id + 1, ["guid:1"]) == set()
    assert await repo.articles_of(source.id) == [article_id]
    same_url = make_article(
        title="Другой текст",
        lead="",
        body=[],
        published_at=NOW,
        views=None,
        source="Y",
        url="http://www.government.ru/news/1?utm_source=tg",
    )
    assert await repo.stored_article_ids([article, same_url]) == [article_id]
    assert await repo.stored_article_ids([]) == []
    assert await repo.ids_by_hash([article_id, 999]) == {article.content_hash: article_id}
    assert await repo.stored_urls(["https://government.ru/news/1", "https://government.ru/news/2/"]) == {
        "https://government.ru/news/1"
    }
    assert await repo.stored_urls([]) == set()


def _article(title: str, url: str, source: str = "Правительство") -> Article:
    return make_article(
        title=title, lead="Текст", body=["Абзац"], published_at=NOW, views=None, source=source, url=url
    )


async def test_save_poll_records_items_links_and_success_in_one_go(
    storage: Storage, repo: SourceStore
) -> None:
    source = await _add(repo)
    earlier = _article("Опубликовано раньше другим источником", "https://other.ru/1", source="Другой")
    (earlier_id,) = (await storage.articles.add_many([earlier])).new_ids
    fresh = _article("Новое сообщение", "https://government.ru/news/2/")
    repost = _article("Новое сообщение, перепечатка", "https://www.other.ru/1?utm_source=rss")
    batch = [fresh, fresh, repost]  # the same item twice in a feed, and a repost of a stored article
    added = await storage.articles.add_many(batch)
    by_hash = await repo.save_poll(
        source,
        now=NOW,
        keys=["guid:a", "guid:b", "guid:c", "link:x"],
        new_ids=added.new_ids,
        others=batch,
        success=PollSuccess(
            items=4, new=len(added.new_ids), etag='"v2"', last_modified=None, redirect_url=None
        ),
    )
    assert by_hash == {fresh.content_hash: added.new_ids[0]} and len(added.new_ids) == 1
    assert await repo.known_items(source.id, ["guid:a", "guid:c", "link:x", "guid:z"]) == {
        "guid:a",
        "guid:c",
        "link:x",
    }
    assert await repo.articles_of(source.id) == sorted([earlier_id, added.new_ids[0]])
    after = await repo.get(source.id)
    assert after is not None
    assert (after.items_last_poll, after.new_last_poll, after.total_new, after.etag) == (4, 1, 1, '"v2"')
    assert after.next_poll_at == NOW + timedelta(seconds=after.poll_interval_seconds)


async def test_save_poll_is_all_or_nothing(repo: SourceStore) -> None:
    source = await _add(repo)
    # An article id that is not there (deleted meanwhile) breaks the link's foreign key after the items were
    # written in the same transaction: nothing of the poll stays, and the source is not marked polled.
    with pytest.raises((sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)):
        await repo.save_poll(
            source,
            now=NOW,
            keys=["guid:a"],
            new_ids=[999],
            others=[],
            success=PollSuccess(items=1, new=1, etag=None, last_modified=None, redirect_url=None),
        )
    assert await repo.known_items(source.id, ["guid:a"]) == set()  # no item row stayed
    after = await repo.get(source.id)
    assert after is not None and after.last_polled_at is None and after.total_new == 0


async def test_clusters_for_names_the_other_sources(storage: Storage, repo: SourceStore) -> None:
    texts = [
        (
            "Правительство",
            "Хуснуллин провёл заседание комиссии по региональному развитию",
            "Марат Хуснуллин провёл заседание президиума комиссии по региональному развитию,"
            " обсудил кредиты.",
        ),
        (
            "ТАСС",
            "Хуснуллин провел заседание комиссии по региональному развитию",
            "МОСКВА. /ТАСС/. Марат Хуснуллин провёл заседание президиума комиссии по региональному развитию"
            " и обсудил кредиты.",
        ),
        (
            "Интерфакс",
            "Хуснуллин провёл заседание комиссии по региональному развитию",
            "Марат Хуснуллин провёл заседание президиума комиссии по региональному развитию и обсудил"
            " кредиты, сообщает Интерфакс.",
        ),
        (
            "Правительство",
            "Мишустин подписал постановление о выходных днях",
            "Председатель Правительства подписал постановление о переносе выходных дней в 2026 году.",
        ),
    ]
    articles = [
        make_article(
            title=t, lead=lead, body=[], published_at=NOW, views=None, source=s, url=f"https://x.ru/{n}"
        )
        for n, (s, t, lead) in enumerate(texts)
    ]
    ids = (await storage.articles.add_many(articles)).new_ids
    rows = [
        (i, ids[0] if n < 3 else i, a.source, a.published_at, sketch(a.title, a.lead))
        for n, (i, a) in enumerate(zip(ids, articles, strict=True))
    ]
    await repo.save_clusters(rows)
    clusters = await repo.clusters_for([ids[0], ids[1], ids[3], 12345])
    assert set(clusters) == {ids[0], ids[1]}  # the lone article and an unknown id have no entry
    assert clusters[ids[0]].cluster_id == ids[0] and clusters[ids[0]].article_ids == tuple(ids[:3])
    assert clusters[ids[0]].other_sources == ("ТАСС", "Интерфакс")
    assert clusters[ids[1]].other_sources == ("Правительство", "Интерфакс")
    assert clusters[ids[1]].other_source_count == 2
    assert len(await repo.sketches_between(NOW - timedelta(days=1), NOW)) == 4
    assert await repo.clusters_for([]) == {}


async def test_reposted_duplicate_counts_as_another_source(storage: Storage, repo: SourceStore) -> None:
    # An exact repost is stored once; the second source is linked to it and named in "also".
    first = await _add(repo, "https://a.gov.ru/rss", name="Минфин")
    second = await _add(repo, "https://b.ru/rss", name="РИА")
    article = make_article(
        title="Минфин разместил ОФЗ",
        lead="Текст релиза.",
        body=[],
        published_at=NOW,
        views=None,
        source="Минфин",
        url="https://a.gov.ru/1",
    )
    (article_id,) = (await storage.articles.add_many([article])).new_ids
    await repo.remember_items(first.id, ["guid:a"], [article_id], now=NOW)
    await repo.remember_items(second.id, ["guid:b"], [article_id], now=NOW)
    clusters = await repo.clusters_for([article_id])
    assert clusters[article_id].other_sources == ("РИА",)


# --- several callers at once (on PostgreSQL: several instances sharing the database) -----------------------


async def test_defaults_load_once_when_two_instances_start_together(repo: SourceStore) -> None:
    defaults = [NewSource(url=f"https://x{n}.gov.ru/rss", name=f"X{n}") for n in range(3)]
    results = await asyncio.gather(*(repo.add_defaults(defaults, now=NOW) for _ in range(4)))
    assert sorted(results) == [0, 0, 0, 3]
    assert [s.url for s in await repo.list_all()] == [d.url for d in defaults]


async def test_concurrent_failures_all_count(storage: Storage, repo: SourceStore) -> None:
    source = await _add(repo)
    # Two polls of the same source reading the same snapshot: both failures count on the row.
    returned = await asyncio.gather(
        *(repo.record_failure(source, now=NOW, error="timed out") for _ in range(2))
    )
    after = await repo.get(source.id)
    assert after is not None and after.consecutive_failures == 2
    if isinstance(storage, PostgresStorage):
        # Counted on the locked row, so the count returned and the backoff follow the row, not the snapshot.
        assert sorted(returned) == [1, 2]
        assert after.next_poll_at == NOW + timedelta(seconds=backoff_seconds(900, 2))
    else:
        assert returned == [1, 1]  # one connection, the caller's snapshot: as before


async def test_overlapping_items_from_concurrent_polls(storage: Storage, repo: SourceStore) -> None:
    source = await _add(repo)
    ids = (
        await storage.articles.add_many([_article(f"Сообщение {n}", f"https://x.ru/{n}") for n in range(20)])
    ).new_ids
    keys = [f"guid:{n:03}" for n in range(300)]
    # The same keys and links in opposite orders at once: no deadlock, no duplicate-key error.
    await asyncio.gather(
        repo.remember_items(source.id, keys, ids, now=NOW),
        repo.remember_items(source.id, keys[::-1], ids[::-1], now=NOW),
        repo.remember_items(source.id, keys[::2], ids[::2], now=NOW),
    )
    assert await repo.known_items(source.id, [*keys, "guid:x"]) == set(keys)
    assert await repo.articles_of(source.id) == sorted(ids)
