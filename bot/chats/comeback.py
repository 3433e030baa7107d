"""A chat coming back after it blocked or removed the bot: what happens to its parked jobs and its schedule."""

from __future__ import annotations

import logging

from storage.interfaces import ChatStore, OutboxStore

log = logging.getLogger(__name__)


async def reactivate(chat_id: int, chats: ChatStore, outbox: OutboxStore) -> bool:
    """An inactive chat comes back: parked digests are superseded by one catch-up digest covering the gap
    since the last one it got, parked broadcasts under a day old are sent (storage.outbox.reactivate_jobs).
    The jobs are settled first, while the digest service still skips the chat. False if it was active."""
    chat = await chats.get(chat_id)
    if chat is None or chat.active:
        return False
    parked = await outbox.reactivate_jobs(chat_id)
    if not await chats.reactivate(chat_id):
        return False
    log.info(
        "chat %d active again: %d parked jobs superseded (next digest from %s), %d back in the queue",
        chat_id,
        parked.superseded,
        parked.resume_from.isoformat() if parked.resume_from else "its schedule",
        parked.requeued,
    )
    return True
