"""Selling: flash sales, holds (reservations), checkout, payments and the charge ledger."""
