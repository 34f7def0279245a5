"""Webhooks: merchant endpoints, signed deliveries and the dispatcher that retries them."""
