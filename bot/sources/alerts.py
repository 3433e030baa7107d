"""Telling the bot admins (ADMIN_IDS) when a source breaks: failing polls in a row, or a source that keeps
answering with nothing. Once per episode; an alert nobody could receive is tried again after the next poll."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.types import LinkPreviewOptions

from bot.config import Settings
from bot.sources.records import AlertKind, SourceAlert
from bot.telegram.texts import DEFAULT_LOCALE, text
from storage.interfaces import SourceStore

log = logging.getLogger(__name__)


_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def alert_text(alert: SourceAlert, locale: str = DEFAULT_LOCALE) -> str:
    source = alert.source
    if alert.kind is AlertKind.FAILING:
        return text(
            "sources.alert_failing",
            locale,
            name=source.name,
            url=source.url,
            failures=source.consecutive_failures,
            error=source.last_error or "?",
        )
    return text(
        "sources.alert_empty", locale, name=source.name, url=source.url, polls=source.consecutive_empty
    )


async def send_alerts(bot: Bot, settings: Settings, repo: SourceStore, alerts: Sequence[SourceAlert]) -> int:
    """Tell every admin about each alert, then mark it sent (once per episode). Returns messages sent.

    An alert no admin could receive stays pending and is tried after the next poll."""
    sent = 0
    for alert in alerts:
        delivered = not settings.admin_ids  # nobody to tell: logged, and not retried at every poll
        if not settings.admin_ids:
            log.warning("source alert with no ADMIN_IDS set: %s", alert_text(alert, "en"))
        for admin_id in sorted(settings.admin_ids):
            try:
                await bot.send_message(
                    admin_id, alert_text(alert), parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW
                )
            except TelegramAPIError as error:
                log.warning("cannot send a source alert to admin %d: %s", admin_id, error)
                continue
            delivered = True
            sent += 1
        if delivered:
            await repo.mark_alerted(alert.source.id, alert.kind)
    return sent
