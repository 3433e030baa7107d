"""The daily digest: when a chat's digest falls due (schedule), what it holds and how it reads (layout,
composition), the exactly-once delivery through the outbox (due jobs, sending, the delivery lease, the
background service) and on-demand digests (/digest and its page button)."""
