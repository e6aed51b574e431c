"""The client's keep-alive connections to the PBX: reused, replaced when the PBX closed them."""

from __future__ import annotations

import time

from tests.pbx.conftest import PbxLikeHandler, errors_in_threads


class KeepAliveHandler(PbxLikeHandler):
    """An HTTP/1.1 server that keeps connections open, noting the client port of each request."""

    protocol_version = "HTTP/1.1"
    ports: list[int] = []

    def do_POST(self) -> None:
        type(self).ports.append(self.client_address[1])
        super().do_POST()


class SilentCloseHandler(KeepAliveHandler):
    """Closes every connection after its answer without saying so, as a PBX whose keep-alive
    timeout ran out does."""

    ports: list[int] = []

    def do_POST(self) -> None:
        super().do_POST()
        self.close_connection = True


def test_requests_share_one_connection(make_client, https_server):
    KeepAliveHandler.ports = []
    url, fingerprint = https_server(KeepAliveHandler)
    client = make_client(url=url, tls_fingerprint=fingerprint)
    for _ in range(5):
        client.system_status()
    assert len(KeepAliveHandler.ports) == 7  # challenge, login and five requests
    assert len(set(KeepAliveHandler.ports)) == 1


def test_a_connection_the_pbx_closed_while_idle_is_replaced_without_an_error(make_client, https_server):
    SilentCloseHandler.ports = []
    url, fingerprint = https_server(SilentCloseHandler)
    client = make_client(url=url, tls_fingerprint=fingerprint)
    for _ in range(3):
        client.system_status()
        time.sleep(0.05)  # the close reaches the client
    assert len(set(SilentCloseHandler.ports)) == 5  # a new connection for each request


def test_threads_sending_at_once_each_get_a_connection(make_client, https_server):
    KeepAliveHandler.ports = []
    url, fingerprint = https_server(KeepAliveHandler)
    client = make_client(url=url, tls_fingerprint=fingerprint)
    client.login()

    def send() -> None:
        for _ in range(10):
            client.system_status()

    assert errors_in_threads(send, 4) == []
    assert len(KeepAliveHandler.ports) == 42
    assert len(set(KeepAliveHandler.ports)) <= 4
