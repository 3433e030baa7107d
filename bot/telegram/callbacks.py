"""Every CallbackData class of the bot, in one place. Packed data must fit CALLBACK_DATA_LIMIT (64 bytes):
anything that can be long (a query) is kept server-side and referenced by a short key."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class SearchPage(CallbackData, prefix="sp"):
    """A page of search results; `key` names the query kept by bot.telegram.search_state.SearchKeys."""

    key: str
    page: int


class ArticleMore(CallbackData, prefix="am"):
    """ "Подробнее": send the whole article."""

    article_id: int


# --- subscriptions and settings (handlers/subscribe.py, settings.py, digest.py) -------------------------------
# `chat_id` is the chat whose digest is managed: the chat itself, or a channel managed from a private chat.


class SubscriptionsPage(CallbackData, prefix="sl"):
    """A page of /subscriptions."""

    chat_id: int
    page: int


class SavedQueryDelete(CallbackData, prefix="sd"):
    """The delete button of one saved query in /subscriptions (`page` to redraw the same page)."""

    chat_id: int
    query_id: int
    page: int


class UnsubscribeChoice(CallbackData, prefix="us"):
    """/unsubscribe's answer: `what` is "all", "gov" (government news), "q" (saved query `query_id`), "no"."""

    chat_id: int
    what: str
    query_id: int = 0


class SettingsAction(CallbackData, prefix="st"):
    """The /settings menu: `action` a section or a setter, `value` its short argument (e.g. "0830", "all")."""

    chat_id: int
    action: str
    value: str = ""


class DigestPage(CallbackData, prefix="dg"):
    """ "Next page" of a digest: `job` the outbox job whose ranked items are paged (0 = an on-demand /digest,
    recomposed for the period ending at `until`, a Unix time), `page` 0-based."""

    job: int
    page: int
    until: int = 0
