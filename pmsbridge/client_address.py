"""Who sent a request: the peer's address, or behind trusted reverse proxies the client's.

Used wherever an address decides something (a webhook source's ``allow_ips``, the login
throttle): a proxy's X-Forwarded-For is believed only when the hop that added it is a
trusted proxy, so a client cannot name itself by sending the header.
"""

from __future__ import annotations

import ipaddress

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str | None) -> IpAddress | None:
    try:
        return ipaddress.ip_address((text or "").strip().strip("[]"))
    except ValueError:
        return None


def client_address(remote_addr: str | None, forwarded_for: str | None,
                   trusted_proxies: list[IpNetwork]) -> IpAddress | None:
    """The client's address: the peer, or behind trusted proxies the last X-Forwarded-For hop they did not add.

    None when an address cannot be read (which no allow-list admits).
    """
    address = _address(remote_addr)
    if forwarded_for is None:
        return address
    for hop in reversed(forwarded_for.split(",")):
        if address is None or not any(address in network for network in trusted_proxies):
            break
        address = _address(hop)
    return address
