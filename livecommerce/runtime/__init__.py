"""What every part runs on: lifecycle, ids, logs, metrics, batching and the collector."""
