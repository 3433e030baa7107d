"""Telegram Bot API limits, named once."""

MESSAGE_TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
INLINE_RESULTS_LIMIT = 50
DEEP_LINK_PAYLOAD_LIMIT = 64  # characters of A-Z, a-z, 0-9, _ and -
# Pacing Telegram documents: ~30 messages/s overall, ~1/s per private chat, 20/min per group or channel.
GLOBAL_MESSAGES_PER_SECOND = 30
PRIVATE_CHAT_INTERVAL_SECONDS = 1.0
GROUP_MESSAGES_PER_MINUTE = 20
