"""A listening port another program already holds, said as one sentence that tells how to move it."""

from __future__ import annotations

import argparse
import errno
import socket


def is_in_use(host: str, port: int) -> bool:
    """Whether another program listens on ``host:port`` now (port 0 never is).

    Binds the way the servers here do (SO_REUSEADDR, so connections of an earlier run still
    closing do not count) and lets go at once.
    """
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def is_address_in_use(err: OSError) -> bool:
    """Whether ``err`` (or the error it was raised from) says the address is taken."""
    while err is not None:
        if isinstance(err, OSError) and err.errno == errno.EADDRINUSE:
            return True
        err = err.__cause__
    return False


def port_in_use(port: int, what: str, change: str) -> str:
    """The sentence for a taken port: ``what`` listens there, ``change`` says how to pick another."""
    return f"port {port} ({what}) is already in use by another program: stop that program, or {change}"


def port_argument(text: str) -> int:
    """argparse type of a --...-port option: 0-65535 (0: any free port)."""
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)
