"""Persistence and the bus: Redis or Valkey, embedded or external."""
