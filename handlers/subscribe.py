"""/subscribe, /subscriptions, /unsubscribe and the deep link `/start subscribe`.

- `/subscribe`: the chat gets the digest of government commission news; coming back after /unsubscribe also
  switches its kept saved queries on again.
- `/subscribe <words>`: a saved query (the /search syntax), shown back in canonical form; at most
  MAX_SAVED_QUERIES per chat.
- `/subscribe @channel [words]` (or the channel's id), from a private chat: once the bot checked with
  getChatMember that both the user and the bot administer the channel (and the bot may post), the channel is
  subscribed and its digests are posted there. `/subscriptions @channel`, `/unsubscribe @channel` and
  `/settings @channel` manage it from the same private chat.
- `/subscriptions`: status and saved queries, paginated, a delete button for each query.
- `/unsubscribe`: stops the digest at once when it has one source; with several (news and saved queries) it
  asks which one. Nothing is deleted: saved queries stay, switched off, for a comeback.

Groups: only administrators change anything; others get a short refusal.
"""

from __future__ import annotations

import math

from aiogram import Bot, Dispatcher, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import SavedQueryDelete, SubscriptionsPage, UnsubscribeChoice
from bot.chat_admin import (
    ChannelProblem,
    ManagedChat,
    channel_label,
    chat_admins_of,
    check_channel,
)
from bot.query import parse_query
from bot.render import shorten
from bot.settings_parse import parse_chat_ref
from bot.texts import Raw
from handlers.membership import reactivate
from handlers.settings import (
    chat_label_suffix,
    chat_type,
    managed_from_button,
    managed_from_message,
    next_digest_line,
    safe_edit,
    schedule_text,
    sender_locale,
    status_text,
    t,
)
from storage.chats import Chat, ChatRepository
from storage.outbox import OutboxRepository
from storage.subscriptions import MAX_SAVED_QUERIES, Subscription, SubscriptionRepository, TooManyQueries

QUERIES_PER_PAGE = 5
BUTTON_QUERY_CHARS = 40
# A page of the list stays far below 4096 characters however long the saved queries are.
LIST_QUERY_CHARS = 300
SUBSCRIBE_PAYLOAD = "subscribe"


def split_channel_ref(args: str) -> tuple[int | str | None, str]:
    """`@channel rest` → ("@channel", "rest"); anything else → (None, args)."""
    first, _, rest = args.strip().partition(" ")
    ref = parse_chat_ref(first) if first else None
    return (ref, rest.strip()) if ref is not None else (None, args.strip())


# --- /subscribe -------------------------------------------------------------------------------------------


async def subscribe_command(
    message: Message,
    *,
    command: CommandObject,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
    outbox: OutboxRepository,
) -> None:
    ref, words = split_channel_ref(command.args or "")
    if ref is not None:
        await _subscribe_channel(
            message,
            ref,
            words,
            bot=bot,
            dispatcher=dispatcher,
            chats=chats,
            subscriptions=subscriptions,
            outbox=outbox,
        )
        return
    managed = await managed_from_message(message, bot, dispatcher, chats)
    if managed is None:
        return
    await _subscribe(message, managed, words, chats=chats, subscriptions=subscriptions, outbox=outbox)


async def start_subscribe(
    message: Message,
    *,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
    outbox: OutboxRepository,
) -> None:
    """The deep link t.me/<bot>?start=subscribe: the same as /subscribe."""
    managed = await managed_from_message(message, bot, dispatcher, chats)
    if managed is not None:
        await _subscribe(message, managed, "", chats=chats, subscriptions=subscriptions, outbox=outbox)


async def _subscribe(
    message: Message,
    managed: ManagedChat,
    words: str,
    *,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
    outbox: OutboxRepository,
) -> None:
    locale = sender_locale(message.from_user)
    # The subscriber's language becomes the digest's language.
    chat = await chats.upsert(
        managed.chat_id,
        type=chat_type(message.chat),
        title=message.chat.title,
        username=message.chat.username,
        locale=locale,
    )
    await reactivate(chat.id, chats, outbox)  # a message from the chat proves the bot can write there again
    if words:
        await message.answer(await _save_query(chat, words, subscriptions, locale))
        return
    await message.answer(
        await _subscribe_news(chat, subscriptions, locale, keys=("subscribed", "already_subscribed"))
    )


async def _subscribe_news(
    chat: Chat,
    subscriptions: SubscriptionRepository,
    locale: str,
    *,
    keys: tuple[str, str],
    **values: object,
) -> str:
    """Switch government news on (and, on a comeback, the kept saved queries); the answer to show: the text
    `keys[0]` when it was switched on now, `keys[1]` when it already was."""
    before = await subscriptions.get(chat.id)
    changed = await subscriptions.set_gov_news(chat.id, True)
    restored = 0
    if not before.active:
        for query in before.queries:
            if not query.enabled and await subscriptions.set_query_enabled(chat.id, query.id, True):
                restored += 1
    after = await subscriptions.get(chat.id)
    key = keys[0] if changed else keys[1]
    answer = t(key, locale, schedule=schedule_text(chat, locale), **values)
    if restored:
        answer += "\n" + t("comeback", locale, count=restored)
    return answer + next_digest_line(chat, after, locale)


async def _save_query(chat: Chat, words: str, subscriptions: SubscriptionRepository, locale: str) -> str:
    query = parse_query(words)
    ignored = (
        "\n" + t("query_ignored", locale, tokens=", ".join(query.invalid_tokens))
        if query.invalid_tokens
        else ""
    )
    if query.is_empty:
        return t("query_empty", locale) + ignored
    canonical = query.text
    before = await subscriptions.get(chat.id)
    existing = next((saved for saved in before.queries if saved.text == canonical), None)
    try:
        _, created = await subscriptions.add_query(chat.id, canonical)
    except TooManyQueries:
        return t("too_many_queries", locale, maximum=MAX_SAVED_QUERIES)
    schedule = schedule_text(chat, locale)
    if created:
        count = await subscriptions.count_queries(chat.id)
        answer = t(
            "query_saved", locale, query=canonical, schedule=schedule, count=count, maximum=MAX_SAVED_QUERIES
        )
    elif existing is not None and not existing.enabled:
        answer = t("query_enabled_again", locale, query=canonical, schedule=schedule)
    else:
        answer = t("query_exists", locale, query=canonical)
    if not before.gov_news:
        answer += "\n" + t("query_gov_hint", locale)
    return answer + ignored


async def _subscribe_channel(
    message: Message,
    ref: int | str,
    words: str,
    *,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
    outbox: OutboxRepository,
) -> None:
    locale = sender_locale(message.from_user)
    user = message.from_user
    if message.chat.type != ChatType.PRIVATE or user is None:
        await message.answer(t("not_in_channel", locale))
        return
    shown = ref if isinstance(ref, str) else str(ref)
    check = await check_channel(bot, chat_admins_of(dispatcher), ref, user.id)
    if check.chat is None or check.problem is not None:
        label = (
            shown
            if check.chat is None
            else channel_label(check.chat.id, check.chat.username, check.chat.title)
        )
        problem = check.problem or ChannelProblem.NOT_FOUND
        await message.answer(t(problem.value, locale, channel=label))
        return
    found = check.chat
    label = channel_label(found.id, found.username, found.title)
    handle = "@" + found.username if found.username else str(found.id)
    chat = await chats.upsert(
        found.id, type="channel", title=found.title, username=found.username, locale=locale
    )
    await reactivate(chat.id, chats, outbox)  # the bot was just confirmed as a posting administrator
    if words:
        await message.answer(await _save_query(chat, words, subscriptions, locale))
        return
    await message.answer(
        await _subscribe_news(
            chat,
            subscriptions,
            locale,
            keys=("channel_subscribed", "channel_already"),
            channel=label,
            ref=handle,
        )
    )


# --- /subscriptions ---------------------------------------------------------------------------------------


def subscriptions_view(
    chat: Chat, subscription: Subscription, managed: ManagedChat, page: int, locale: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The /subscriptions text and keyboard for one page (clamped to the pages there are)."""
    queries = subscription.queries
    pages = max(1, math.ceil(len(queries) / QUERIES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    lines = [
        t(
            "list_header",
            locale,
            chat=chat_label_suffix(managed, locale),
            status=status_text(chat, subscription, locale),
            gov=t("yes" if subscription.gov_news else "no", locale),
        ),
        "",
    ]
    builder = InlineKeyboardBuilder()
    shown = queries[page * QUERIES_PER_PAGE : (page + 1) * QUERIES_PER_PAGE]
    if not queries:
        lines.append(t("list_no_queries", locale))
    else:
        lines.append(
            t(
                "list_queries",
                locale,
                count=len(queries),
                maximum=MAX_SAVED_QUERIES,
                page=page + 1,
                pages=pages,
            )
        )
        for offset, saved in enumerate(shown):
            number = page * QUERIES_PER_PAGE + offset + 1
            state = Raw("" if saved.enabled else t("list_item_off", locale))
            shown_text = shorten(saved.text, LIST_QUERY_CHARS)
            lines.append(t("list_item", locale, number=number, query=shown_text, state=state))
            builder.button(
                text=t("button_delete", locale, number=number),
                callback_data=SavedQueryDelete(chat_id=chat.id, query_id=saved.id, page=page),
            )
    widths = [len(shown)] if shown else []
    navigation = []
    if page > 0:
        navigation.append((t("button_prev", locale), page - 1))
    if page < pages - 1:
        navigation.append((t("button_next", locale), page + 1))
    for label, target in navigation:
        builder.button(text=label, callback_data=SubscriptionsPage(chat_id=chat.id, page=target))
    if navigation:
        widths.append(len(navigation))
    if not widths:
        return "\n".join(lines), None
    builder.adjust(*widths)
    return "\n".join(lines), builder.as_markup()


async def subscriptions_command(
    message: Message,
    *,
    command: CommandObject,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
) -> None:
    locale = sender_locale(message.from_user)
    ref, _ = split_channel_ref(command.args or "")
    managed = await managed_from_message(message, bot, dispatcher, chats, ref)
    if managed is None:
        return
    chat = await chats.get(managed.chat_id)
    assert chat is not None
    html, markup = subscriptions_view(chat, await subscriptions.get(chat.id), managed, 0, locale)
    await message.answer(html, reply_markup=markup, disable_web_page_preview=True)


async def subscriptions_page(
    callback: CallbackQuery,
    *,
    callback_data: SubscriptionsPage,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
) -> None:
    found = await managed_from_button(callback, callback_data.chat_id, bot, dispatcher, chats)
    if found is None:
        return
    message, managed, chat = found
    await callback.answer()
    locale = sender_locale(callback.from_user)
    html, markup = subscriptions_view(
        chat, await subscriptions.get(chat.id), managed, callback_data.page, locale
    )
    await safe_edit(message, html, markup)


async def delete_query_button(
    callback: CallbackQuery,
    *,
    callback_data: SavedQueryDelete,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
) -> None:
    found = await managed_from_button(callback, callback_data.chat_id, bot, dispatcher, chats)
    if found is None:
        return
    message, managed, chat = found
    locale = sender_locale(callback.from_user)
    deleted = await subscriptions.delete_query(chat.id, callback_data.query_id)
    await callback.answer(t("query_deleted" if deleted else "query_gone", locale))
    html, markup = subscriptions_view(
        chat, await subscriptions.get(chat.id), managed, callback_data.page, locale
    )
    await safe_edit(message, html, markup)


# --- /unsubscribe -----------------------------------------------------------------------------------------


def unsubscribe_keyboard(chat_id: int, subscription: Subscription, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=t("button_unsub_all", locale), callback_data=UnsubscribeChoice(chat_id=chat_id, what="all")
    )
    if subscription.gov_news:
        builder.button(
            text=t("button_unsub_gov", locale), callback_data=UnsubscribeChoice(chat_id=chat_id, what="gov")
        )
    for saved in subscription.enabled_queries:
        builder.button(
            text=t("button_unsub_query", locale, query=shorten(saved.text, BUTTON_QUERY_CHARS)),
            callback_data=UnsubscribeChoice(chat_id=chat_id, what="q", query_id=saved.id),
        )
    builder.button(
        text=t("button_cancel", locale), callback_data=UnsubscribeChoice(chat_id=chat_id, what="no")
    )
    builder.adjust(1)
    return builder.as_markup()


async def unsubscribe_command(
    message: Message,
    *,
    command: CommandObject,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
) -> None:
    locale = sender_locale(message.from_user)
    ref, _ = split_channel_ref(command.args or "")
    managed = await managed_from_message(message, bot, dispatcher, chats, ref)
    if managed is None:
        return
    subscription = await subscriptions.get(managed.chat_id)
    sources = int(subscription.gov_news) + len(subscription.enabled_queries)
    if sources == 0:
        await message.answer(t("unsubscribe_nothing", locale))
        return
    if sources == 1:
        await subscriptions.unsubscribe_all(managed.chat_id)
        await message.answer(t("unsubscribed_all", locale, count=len(subscription.queries)))
        return
    await message.answer(
        t("unsubscribe_ask", locale) + Raw(chat_label_suffix(managed, locale)),
        reply_markup=unsubscribe_keyboard(managed.chat_id, subscription, locale),
    )


async def unsubscribe_button(
    callback: CallbackQuery,
    *,
    callback_data: UnsubscribeChoice,
    bot: Bot,
    dispatcher: Dispatcher,
    chats: ChatRepository,
    subscriptions: SubscriptionRepository,
) -> None:
    found = await managed_from_button(callback, callback_data.chat_id, bot, dispatcher, chats)
    if found is None:
        return
    message, _managed, chat = found
    locale = sender_locale(callback.from_user)
    what = callback_data.what
    if what == "all":
        await subscriptions.unsubscribe_all(chat.id)
        answer = t("unsubscribed_all", locale, count=await subscriptions.count_queries(chat.id))
    elif what == "gov":
        changed = await subscriptions.set_gov_news(chat.id, False)
        answer = t("unsubscribed_gov" if changed else "already_changed", locale)
    elif what == "q":
        saved = await subscriptions.get_query(chat.id, callback_data.query_id)
        changed = saved is not None and await subscriptions.set_query_enabled(chat.id, saved.id, False)
        answer = (
            t("unsubscribed_query", locale, query=saved.text)
            if saved is not None and changed
            else t("already_changed", locale)
        )
    else:
        answer = t("unsubscribe_cancelled", locale)
    await callback.answer()
    if what in {"gov", "q"} and await subscriptions.is_subscribed(chat.id):
        answer += "\n" + t("still_active", locale)
    await safe_edit(message, answer, None)


def create_router() -> Router:
    router = Router(name="subscribe")
    router.message.register(start_subscribe, CommandStart(deep_link=True, magic=F.args == SUBSCRIBE_PAYLOAD))
    router.message.register(subscribe_command, Command("subscribe"))
    router.message.register(subscriptions_command, Command("subscriptions"))
    router.message.register(unsubscribe_command, Command("unsubscribe"))
    router.callback_query.register(subscriptions_page, SubscriptionsPage.filter())
    router.callback_query.register(delete_query_button, SavedQueryDelete.filter())
    router.callback_query.register(unsubscribe_button, UnsubscribeChoice.filter())
    return router
