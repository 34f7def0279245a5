"""Moderation: roles, bans, mutes, timeouts, reports, blocked words and the audit log."""
