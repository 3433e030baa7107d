"""Every CallbackData class of the bot, in one place. Packed data must fit CALLBACK_DATA_LIMIT (64 bytes):
anything that can be long (a query) is kept server-side and referenced by a short key."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class SearchPage(CallbackData, prefix="sp"):
    """A page of search results; `key` names the query kept in bot.search_state.QueryStore."""

    key: str
    page: int


class ArticleMore(CallbackData, prefix="am"):
    """"Подробнее": send the whole article."""

    article_id: int
