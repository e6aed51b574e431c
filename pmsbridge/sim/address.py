"""How a client reaches a simulator that listens on some address."""

from __future__ import annotations


def url_host(host: str) -> str:
    """The host part of a URL for a server bound to ``host``: loopback for "every address",
    IPv6 literals in brackets."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]" if ":" in host else host
