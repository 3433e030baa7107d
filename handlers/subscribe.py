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

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.chats.admins import ChannelProblem, ChatAdminCache, channel_label, check_channel
from bot.chats.managed import Managing, chat_type, safe_edit
from bot.chats.managed_middleware import MANAGES_CHAT, ManagedTarget, install_managed_chat
from bot.chats.preferences import split_channel_ref
from bot.chats.records import MAX_SAVED_QUERIES, Chat
from bot.chats.subscriptions import (
    NewsSubscribed,
    QueryOutcome,
    QuerySaved,
    enroll_chat,
    save_query,
    subscribe_news,
    unsubscribe,
    unsubscribe_all,
    unsubscribe_query,
)
from bot.chats.view import (
    chat_label_suffix,
    next_digest_line,
    schedule_text,
    subscriptions_view,
    t,
    unsubscribe_keyboard,
)
from bot.clock import Clock
from bot.telegram.callbacks import SavedQueryDelete, SubscriptionsPage, UnsubscribeChoice
from bot.telegram.render import invalid_filters_note
from bot.telegram.texts import Raw
from storage.interfaces import ChatStore, OutboxStore, SubscriptionStore

SUBSCRIBE_PAYLOAD = "subscribe"


async def channel_named(message: Message, command: CommandObject) -> dict[str, object] | bool:
    """Filter: `/subscribe @channel [words]` names a channel (→ `channel_ref`, `words`); False otherwise."""
    ref, words = split_channel_ref(command.args or "")
    return {"channel_ref": ref, "words": words} if ref is not None else False


async def _show_subscriptions(managing: Managing, page: int, subscriptions: SubscriptionStore) -> None:
    """Redraw the /subscriptions list (page `page`) in the message the button is on."""
    chat = managing.chat
    html, markup = subscriptions_view(
        chat, await subscriptions.get(chat.id), managing.managed, page, managing.locale
    )
    await safe_edit(managing.message, html, markup)


# --- /subscribe -------------------------------------------------------------------------------------------


async def subscribe_command(
    message: Message,
    *,
    command: CommandObject,
    managing: Managing,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
    outbox: OutboxStore,
    clock: Clock,
) -> None:
    """/subscribe [words] for the chat it is sent in (a named channel goes to subscribe_channel)."""
    _, words = split_channel_ref(command.args or "")
    await _subscribe(managing, words, chats=chats, subscriptions=subscriptions, outbox=outbox, clock=clock)


async def start_subscribe(
    message: Message,
    *,
    managing: Managing,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
    outbox: OutboxStore,
    clock: Clock,
) -> None:
    """The deep link t.me/<bot>?start=subscribe: the same as /subscribe."""
    await _subscribe(managing, "", chats=chats, subscriptions=subscriptions, outbox=outbox, clock=clock)


async def _subscribe(
    managing: Managing,
    words: str,
    *,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
    outbox: OutboxStore,
    clock: Clock,
) -> None:
    message, locale = managing.message, managing.locale
    chat = await enroll_chat(
        managing.chat.id,
        type=chat_type(message.chat),
        title=message.chat.title,
        username=message.chat.username,
        locale=locale,
        chats=chats,
        outbox=outbox,
    )
    if words:
        await message.answer(_query_saved_text(await save_query(chat.id, words, subscriptions), chat, locale))
        return
    subscribed = await subscribe_news(chat.id, subscriptions)
    await message.answer(
        _news_text(subscribed, chat, locale, now=clock(), keys=("subscribed", "already_subscribed"))
    )


def _news_text(
    subscribed: NewsSubscribed,
    chat: Chat,
    locale: str,
    *,
    now: datetime,
    keys: tuple[str, str],
    **values: object,
) -> str:
    """The answer to government news switched on: the text `keys[0]` when it was switched on now, `keys[1]`
    when it already was; a comeback line when saved queries came back, then the next digest."""
    key = keys[0] if subscribed.switched_on else keys[1]
    answer = t(key, locale, schedule=schedule_text(chat, locale), **values)
    if subscribed.restored:
        answer += "\n" + t("comeback", locale, count=subscribed.restored)
    return answer + next_digest_line(chat, subscribed.subscription, locale, now=now)


def _query_saved_text(saved: QuerySaved, chat: Chat, locale: str) -> str:
    note = invalid_filters_note(saved.invalid_tokens, locale)
    ignored = "\n" + note if note else ""
    outcome = saved.outcome
    if outcome is QueryOutcome.EMPTY:
        return t("query_empty", locale) + ignored
    if outcome is QueryOutcome.TOO_MANY:
        return t("too_many_queries", locale, maximum=MAX_SAVED_QUERIES)
    schedule = schedule_text(chat, locale)
    if outcome is QueryOutcome.SAVED:
        answer = t(
            "query_saved",
            locale,
            query=saved.text,
            schedule=schedule,
            count=saved.count,
            maximum=MAX_SAVED_QUERIES,
        )
    elif outcome is QueryOutcome.ENABLED_AGAIN:
        answer = t("query_enabled_again", locale, query=saved.text, schedule=schedule)
    else:
        answer = t("query_exists", locale, query=saved.text)
    if not saved.gov_news:
        answer += "\n" + t("query_gov_hint", locale)
    return answer + ignored


async def subscribe_channel(
    message: Message,
    *,
    channel_ref: int | str,
    words: str,
    bot: Bot,
    chat_admins: ChatAdminCache,
    chats: ChatStore,
    subscriptions: SubscriptionStore,
    outbox: OutboxStore,
    clock: Clock,
    locale: str,
) -> None:
    """`/subscribe @channel [words]` from a private chat: checks the channel itself (it need not be stored)."""
    ref = channel_ref
    user = message.from_user
    if message.chat.type != ChatType.PRIVATE or user is None:
        await message.answer(t("not_in_channel", locale))
        return
    shown = ref if isinstance(ref, str) else str(ref)
    check = await check_channel(bot, chat_admins, ref, user.id)
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
    # The bot was just confirmed as a posting administrator: the channel is active again if it was not.
    chat = await enroll_chat(
        found.id,
        type="channel",
        title=found.title,
        username=found.username,
        locale=locale,
        chats=chats,
        outbox=outbox,
    )
    if words:
        await message.answer(_query_saved_text(await save_query(chat.id, words, subscriptions), chat, locale))
        return
    subscribed = await subscribe_news(chat.id, subscriptions)
    await message.answer(
        _news_text(
            subscribed,
            chat,
            locale,
            now=clock(),
            keys=("channel_subscribed", "channel_already"),
            channel=label,
            ref=handle,
        )
    )


# --- /subscriptions ---------------------------------------------------------------------------------------


async def subscriptions_command(
    message: Message, *, managing: Managing, subscriptions: SubscriptionStore
) -> None:
    chat = managing.chat
    html, markup = subscriptions_view(
        chat, await subscriptions.get(chat.id), managing.managed, 0, managing.locale
    )
    await message.answer(html, reply_markup=markup, disable_web_page_preview=True)


async def subscriptions_page(
    callback: CallbackQuery,
    *,
    callback_data: SubscriptionsPage,
    managing: Managing,
    subscriptions: SubscriptionStore,
) -> None:
    await callback.answer()
    await _show_subscriptions(managing, callback_data.page, subscriptions)


async def delete_query_button(
    callback: CallbackQuery,
    *,
    callback_data: SavedQueryDelete,
    managing: Managing,
    subscriptions: SubscriptionStore,
) -> None:
    deleted = await subscriptions.delete_query(managing.chat.id, callback_data.query_id)
    await callback.answer(t("query_deleted" if deleted else "query_gone", managing.locale))
    await _show_subscriptions(managing, callback_data.page, subscriptions)


# --- /unsubscribe -----------------------------------------------------------------------------------------


async def unsubscribe_command(
    message: Message, *, managing: Managing, subscriptions: SubscriptionStore
) -> None:
    managed, locale = managing.managed, managing.locale
    result = await unsubscribe(managed.chat_id, subscriptions)
    if result.sources == 0:
        await message.answer(t("unsubscribe_nothing", locale))
        return
    if result.stopped:
        await message.answer(t("unsubscribed_all", locale, count=len(result.subscription.queries)))
        return
    await message.answer(
        t("unsubscribe_ask", locale) + Raw(chat_label_suffix(managed, locale)),
        reply_markup=unsubscribe_keyboard(managed.chat_id, result.subscription, locale),
    )


async def unsubscribe_button(
    callback: CallbackQuery,
    *,
    callback_data: UnsubscribeChoice,
    managing: Managing,
    subscriptions: SubscriptionStore,
) -> None:
    message, chat, locale = managing.message, managing.chat, managing.locale
    what = callback_data.what
    if what == "all":
        answer = t("unsubscribed_all", locale, count=await unsubscribe_all(chat.id, subscriptions))
    elif what == "gov":
        changed = await subscriptions.set_gov_news(chat.id, False)
        answer = t("unsubscribed_gov" if changed else "already_changed", locale)
    elif what == "q":
        stopped = await unsubscribe_query(chat.id, callback_data.query_id, subscriptions)
        answer = (
            t("unsubscribed_query", locale, query=stopped)
            if stopped is not None
            else t("already_changed", locale)
        )
    else:
        answer = t("unsubscribe_cancelled", locale)
    await callback.answer()
    if what in {"gov", "q"} and await subscriptions.is_subscribed(chat.id):
        answer += "\n" + t("still_active", locale)
    await safe_edit(message, answer, None)


def create_router() -> Router:
    """The handlers that manage a chat get it (or the refusal) from the managed-chat middleware (MANAGES_CHAT)."""
    router = Router(name="subscribe")
    install_managed_chat(router)
    here = {MANAGES_CHAT: ManagedTarget.HERE}
    named = {MANAGES_CHAT: ManagedTarget.NAMED_FIRST}
    button = {MANAGES_CHAT: ManagedTarget.BUTTON}
    router.message.register(
        start_subscribe, CommandStart(deep_link=True, magic=F.args == SUBSCRIBE_PAYLOAD), flags=here
    )
    # A channel named from a private chat is checked by subscribe_channel itself: it need not be stored yet.
    router.message.register(subscribe_channel, Command("subscribe"), channel_named)
    router.message.register(subscribe_command, Command("subscribe"), flags=here)
    router.message.register(subscriptions_command, Command("subscriptions"), flags=named)
    router.message.register(unsubscribe_command, Command("unsubscribe"), flags=named)
    router.callback_query.register(subscriptions_page, SubscriptionsPage.filter(), flags=button)
    router.callback_query.register(delete_query_button, SavedQueryDelete.filter(), flags=button)
    router.callback_query.register(unsubscribe_button, UnsubscribeChoice.filter(), flags=button)
    return router
