"""Accounts: sign-up and sign-in rules, passwords, tokens and sessions, and erasure."""
