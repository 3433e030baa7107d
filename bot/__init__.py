"""govdigest: Telegram news digests of government commission news."""

__version__ = "0.1.0"
