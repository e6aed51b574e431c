"""The client's address behind reverse proxies: X-Forwarded-For is believed only from trusted ones."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from pmsbridge.client_address import client_address


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    proxies = [ip_network("10.0.0.0/8")]
    assert client_address("192.0.2.1", "203.0.113.9", proxies) == ip_address("192.0.2.1")
    assert client_address("10.0.0.2", "203.0.113.9, 10.0.0.3", proxies) == ip_address("203.0.113.9")
    assert client_address("10.0.0.2", "garbage", proxies) is None
    assert client_address("::1", None, []) == ip_address("::1")
