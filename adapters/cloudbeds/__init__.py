"""Cloudbeds: the PMS API v1.3 with an API key, webhooks per object and action."""
