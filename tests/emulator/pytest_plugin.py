"""Fixtures for the Bot API emulator (filled in with the emulator itself)."""
