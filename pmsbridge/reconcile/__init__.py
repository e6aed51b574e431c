"""Reconciliation: find where the PBX differs from the desired room state, and heal it."""
