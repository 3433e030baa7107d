"""/sources, /addsource, /removesource: Dispatcher tests over a RecordingSession (no HTTP)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import SendMessage
from aiogram.types import Update

from bot.config import Settings
from bot.sources.records import NewSource, SourceKind
from bot.sources.view import render_sources
from bot.telegram.limits import MESSAGE_TEXT_LIMIT
from bot.telegram.updates import InFlight, UpdateMiddleware
from handlers.sources import create_router
from storage.sqlite.database import Database
from storage.sqlite.sources import SourceRepository
from tests.bot.sources.stub_resolver import StubResolver
from tests.emulator.recording import RecordingSession

NOW = datetime(2025, 9, 26, 9, 0, tzinfo=UTC)
ADMIN = 1000
GROUP = -100500


@pytest.fixture
def repo(db: Database) -> SourceRepository:
    return SourceRepository(db)


@pytest.fixture
def resolver() -> StubResolver:
    """DNS for /addsource's public-address check, without a query: these names only (public addresses
    from the real sites' ranges; nothing connects to them)."""
    return StubResolver(
        {
            "government.ru": ["95.173.136.70"],
            "tularegion.ru": ["213.87.137.13"],
            "intranet.example": ["10.0.0.5", "fd00::5"],
            "metadata.example": ["169.254.169.254"],
        }
    )


@pytest.fixture
def dispatcher(
    settings: Settings, db: Database, repo: SourceRepository, resolver: StubResolver
) -> Dispatcher:
    return _with_router(Dispatcher(settings=settings, db=db, sources=repo, address_resolver=resolver))


def _with_router(dp: Dispatcher) -> Dispatcher:
    """The sources router behind the app's update middleware (it gives handlers the sender's `locale`)."""
    dp.update.outer_middleware(UpdateMiddleware(InFlight()))
    dp.include_router(create_router())
    return dp


async def _send(
    dispatcher: Dispatcher,
    bot: Bot,
    session: RecordingSession,
    text: str,
    user_id: int,
    language: str = "ru",
    *,
    group: bool = False,
) -> list[str]:
    before = len(session.calls_of(SendMessage))
    chat = {"chat_id": GROUP, "chat_type": "supergroup"} if group else {"chat_id": user_id}
    raw = session.emulator.message(text, user_id=user_id, language_code=language, **chat)
    await dispatcher.feed_update(bot, Update.model_validate(raw, context={"bot": bot}))
    return [call.text for call in session.calls_of(SendMessage)[before:]]


@pytest.mark.parametrize(
    ("user_id", "group"),
    [(2000, False), (2000, True), (ADMIN, True)],
    ids=["user-private", "user-group", "admin-group"],
)
@pytest.mark.parametrize(
    "command", ["/sources", "/addsource http://government.ru/all/rss/", "/removesource 1", "/removesource"]
)
async def test_others_and_groups_get_silence_and_nothing_changes(
    dispatcher: Dispatcher,
    recording_bot: Bot,
    recording_session: RecordingSession,
    repo: SourceRepository,
    command: str,
    user_id: int,
    group: bool,
) -> None:
    """Like /stats: not a word to non-admins (the commands' existence stays private), and no source URLs or
    errors posted into a group, even for an admin."""
    await repo.add(NewSource(url="http://kremlin.ru/events/president/news/feed", name="Кремль"), now=NOW)
    replies = await _send(dispatcher, recording_bot, recording_session, command, user_id, "en", group=group)
    assert replies == []
    assert [s.name for s in await repo.list_all()] == ["Кремль"]
    # The same command from the admin in a private chat is answered.
    assert await _send(dispatcher, recording_bot, recording_session, command, ADMIN, "en")


async def test_admin_adds_with_kind_guessed(
    dispatcher: Dispatcher,
    recording_bot: Bot,
    recording_session: RecordingSession,
    repo: SourceRepository,
    resolver: StubResolver,
) -> None:
    (reply,) = await _send(
        dispatcher,
        recording_bot,
        recording_session,
        "/addsource https://tularegion.ru/press_center/news/",
        ADMIN,
    )
    assert "tularegion.ru" in reply and "html" in reply
    (source,) = await repo.list_all()
    assert source.kind is SourceKind.HTML and source.name == "tularegion.ru"
    assert resolver.lookups == ["tularegion.ru"]  # the host was checked for a public address


@pytest.mark.parametrize(
    ("url", "language", "expected"),
    [
        (
            "http://intranet.example/rss",
            "ru",
            "Адрес http://intranet.example/rss ведёт только на непубличные адреса (10.0.0.5, fd00::5)",
        ),
        ("https://metadata.example/latest/", "en", "leads only to non-public addresses (169.254.169.254)"),
        ("http://127.0.0.1:8080/rss", "en", "non-public addresses (127.0.0.1)"),
        ("http://[::1]/news/", "ru", "непубличные адреса (::1)"),
    ],
)
async def test_addsource_refuses_an_address_in_the_private_network(
    dispatcher: Dispatcher,
    recording_bot: Bot,
    recording_session: RecordingSession,
    repo: SourceRepository,
    url: str,
    language: str,
    expected: str,
) -> None:
    (reply,) = await _send(dispatcher, recording_bot, recording_session, f"/addsource {url}", ADMIN, language)
    assert expected in reply
    assert await repo.list_all() == []


async def test_addsource_accepts_a_private_address_when_the_setting_allows_it(
    settings: Settings,
    db: Database,
    repo: SourceRepository,
    recording_bot: Bot,
    recording_session: RecordingSession,
) -> None:
    resolver = StubResolver()  # must not be asked: the check is off
    dp = _with_router(
        Dispatcher(
            settings=replace(settings, allow_private_fetch=True),
            db=db,
            sources=repo,
            address_resolver=resolver,
        )
    )
    (reply,) = await _send(
        dp, recording_bot, recording_session, "/addsource http://intranet.example/rss", ADMIN
    )
    assert "intranet.example" in reply and resolver.lookups == []
    assert [source.url for source in await repo.list_all()] == ["http://intranet.example/rss"]


def test_listing_escapes_names_and_errors(settings: Settings) -> None:
    from bot.sources.records import Source

    source = Source(
        id=7,
        name="<b>Сайт</b> & Co",
        url="https://x.ru/rss?a=1&b=2",
        kind=SourceKind.RSS,
        poll_interval_seconds=900,
        enabled=True,
        etag=None,
        last_modified=None,
        created_at=NOW,
        last_polled_at=NOW,
        last_success_at=None,
        last_error="HTTP 500 <oops>",
        last_error_at=NOW,
        consecutive_failures=3,
        consecutive_empty=0,
        items_last_poll=None,
        new_last_poll=None,
        total_new=0,
        next_poll_at=NOW,
        alerted_failing=False,
        alerted_empty=False,
        redirect_url=None,
    )
    rendered = render_sources([source], settings, "ru")
    assert "&lt;b&gt;Сайт&lt;/b&gt; &amp; Co" in rendered and "HTTP 500 &lt;oops&gt;" in rendered
    assert "a=1&amp;b=2" in rendered and "🔴" in rendered and "ошибок подряд: 3" in rendered


async def test_a_long_list_is_split_into_valid_messages(
    dispatcher: Dispatcher, recording_bot: Bot, recording_session: RecordingSession, repo: SourceRepository
) -> None:
    for number in range(60):
        await repo.add(
            NewSource(
                url=f"https://region{number}.gov.ru/press/news/rss/", name=f"Правительство региона {number}"
            ),
            now=NOW,
        )
    replies = await _send(dispatcher, recording_bot, recording_session, "/sources", ADMIN)
    # The session's emulator validates each message as Telegram does (at most MESSAGE_TEXT_LIMIT after parsing).
    assert len(replies) >= 2 and len("".join(replies)) > MESSAGE_TEXT_LIMIT
    joined = "\n".join(replies)
    assert all(f"Правительство региона {number}</b>" in joined for number in range(60))
