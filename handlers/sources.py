"""/sources (list with health), /addsource URL, /removesource ID: for ADMIN_IDS in a private chat only.

As with /stats and /broadcast, anyone else (and everyone in a group, where source URLs and errors have no
place) gets silence: the command is taken here and dropped, so it does not reach the "unknown command" hint
and strangers are not told the commands exist.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import LinkPreviewOptions, Message
from aiohttp.abc import AbstractResolver

from bot.config import Settings
from bot.sources.manage import NotPublicUrlError, SourceUrlError, prepare_source
from bot.sources.records import SourceExistsError
from bot.sources.view import render_sources
from bot.telegram.filters import BotAdmin
from bot.telegram.html_split import split_text
from bot.telegram.texts import text
from storage.interfaces import SourceStore

log = logging.getLogger(__name__)

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def ignore_non_admin(message: Message) -> None:
    """A source command from anyone but a bot admin in a private chat: taken and dropped, unanswered."""
    user = message.from_user
    log.info(
        "%s from %s in a %s chat ignored",
        (message.text or "").split(" ", 1)[0][:40],
        user.id if user else None,
        message.chat.type,
    )


async def sources_command(message: Message, *, settings: Settings, sources: SourceStore, locale: str) -> None:
    rendered = render_sources(await sources.list_all(), settings, locale)
    for part in split_text(rendered):
        await message.answer(part, link_preview_options=_NO_PREVIEW)


async def addsource_command(
    message: Message,
    *,
    command: CommandObject,
    settings: Settings,
    sources: SourceStore,
    locale: str,
    address_resolver: AbstractResolver | None = None,
) -> None:
    """`address_resolver` (a Dispatcher kwarg; the system's resolver when absent) looks the host up: a URL
    that leads only into a private network is refused."""
    raw = (command.args or "").strip()
    if not raw:
        await message.answer(text("sources.add_usage", locale))
        return
    try:
        new = await prepare_source(
            raw.split()[0], allow_private=settings.allow_private_fetch, resolver=address_resolver
        )
    except NotPublicUrlError as error:
        await message.answer(
            text("sources.not_public", locale, url=error.url[:200], addresses=", ".join(error.addresses[:5])),
            link_preview_options=_NO_PREVIEW,
        )
        return
    except SourceUrlError:
        await message.answer(text("sources.bad_url", locale, url=raw[:200]), link_preview_options=_NO_PREVIEW)
        return
    url = new.url
    try:
        source = await sources.add(new)
    except SourceExistsError:
        existing = await sources.get_by_url(url)
        name, source_id = (existing.name, existing.id) if existing else (url, "?")
        await message.answer(text("sources.exists", locale, name=name, id=source_id))
        return
    await message.answer(
        text("sources.added", locale, name=source.name, id=source.id, kind=source.kind.value),
        link_preview_options=_NO_PREVIEW,
    )


async def removesource_command(
    message: Message, *, command: CommandObject, sources: SourceStore, locale: str
) -> None:
    raw = (command.args or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        await message.answer(text("sources.remove_usage", locale))
        return
    source = await sources.get(int(raw))
    if source is None or not await sources.remove(source.id):
        await message.answer(text("sources.not_found", locale, id=raw))
        return
    await message.answer(text("sources.removed", locale, name=source.name))


def create_router() -> Router:
    router = Router(name="sources")
    router.message.register(sources_command, Command("sources"), BotAdmin())
    router.message.register(addsource_command, Command("addsource"), BotAdmin())
    router.message.register(removesource_command, Command("removesource"), BotAdmin())
    router.message.register(ignore_non_admin, Command("sources", "addsource", "removesource"))
    return router
