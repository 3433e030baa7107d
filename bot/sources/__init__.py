"""News sources: RSS/Atom feeds and news-list pages polled on their own intervals (fetching with SSRF
guards, feed and listing parsing, clustering of one story told by several sources), source management and
health, and the alerts bot admins get when a source breaks."""
