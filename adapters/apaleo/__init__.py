"""Apaleo: OAuth client credentials, the Booking and Finance APIs, reservation webhooks."""
