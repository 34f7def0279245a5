"""Follows and reminders: viewers follow creators and ask to be reminded of shows."""
