"""Mews: the Connector API (tokens in the body), a short poll as the main path, General Webhooks."""
