"""How sources and their health read in chat (the admin's /sources)."""

from __future__ import annotations

from datetime import datetime

from bot.config import Settings
from bot.sources.manage import Health, health_of
from bot.sources.records import Source
from bot.telegram.texts import Raw, text

_STATUS_KEYS = {
    Health.OK: "sources.status_ok",
    Health.FAILING: "sources.status_failing",
    Health.EMPTY: "sources.status_empty",
    Health.DISABLED: "sources.status_disabled",
    Health.NEW: "sources.status_new",
}
_ERROR_SHOWN = 200


def _when(moment: datetime | None, settings: Settings) -> str:
    return moment.astimezone(settings.timezone).strftime("%d.%m.%Y %H:%M") if moment else "—"


def health_text(source: Source, settings: Settings, locale: str) -> str:
    health = health_of(source)
    if health is Health.DISABLED:
        return text("sources.health_disabled", locale)
    if health is Health.FAILING:
        error = (source.last_error or "?")[:_ERROR_SHOWN]
        return text("sources.health_failing", locale, failures=source.consecutive_failures, error=error)
    if health is Health.EMPTY:
        return text("sources.health_empty", locale, polls=source.consecutive_empty)
    if health is Health.NEW:
        return text("sources.health_never", locale)
    return text(
        "sources.health_ok",
        locale,
        when=_when(source.last_success_at, settings),
        items=source.items_last_poll if source.items_last_poll is not None else "—",
        new=source.new_last_poll or 0,
    )


def render_sources(sources: list[Source], settings: Settings, locale: str) -> str:
    if not sources:
        return text("sources.list_empty", locale)
    blocks = [text("sources.list_header", locale, count=len(sources))]
    for source in sources:
        blocks.append(
            text(
                "sources.list_item",
                locale,
                number=source.id,
                status=text(_STATUS_KEYS[health_of(source)], locale),
                name=source.name,
                kind=source.kind.value,
                minutes=source.poll_interval_seconds // 60,
                url=source.url,
                health=Raw(health_text(source, settings, locale)),
            )
        )
    blocks.append(text("sources.list_footer", locale))
    return "\n\n".join(blocks)
