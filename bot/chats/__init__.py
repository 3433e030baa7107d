"""Chats as the bot manages them: who may change a chat's digest (private chat user, group admins, channel
admins), the chat's preferences as users type them, subscriptions and their views, and a chat coming back
after it blocked or removed the bot."""
