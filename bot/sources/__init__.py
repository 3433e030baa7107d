"""Sources: polling official feeds and news-list pages into the archive (see poller.py)."""
