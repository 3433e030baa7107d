"""Everything Telegram-shaped that features share: the session middlewares (token redaction, 429 and 5xx
retries, pacing and the send budget), per-user throttling, CallbackData classes, the command list, deep links,
the Bot API's limits, interface texts by locale, HTML rendering and splitting, and search state kept
server-side for page buttons."""
