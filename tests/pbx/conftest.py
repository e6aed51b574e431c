"""Fixtures for the PBX client tests: an emulated FCM630A on 127.0.0.1 and settings for it."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pmsbridge.config import PbxSettings
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.tls import certificate_fingerprint

API_USER, API_PASSWORD = "cdrapi", "cdrapi-secret"
PMS_USER, PMS_PASSWORD = "pms", "pms-secret"


@pytest.fixture
def emulator_options(request) -> dict[str, object]:
    """Keyword arguments for EmulatorOptions; a test changes some with
    ``@pytest.mark.parametrize("emulator_options", [{...}], indirect=True)``."""
    return {
        "port": 0,
        "rooms": 20,
        "extension_template": "{room}",
        "username": API_USER,
        "password": API_PASSWORD,
        "pms_username": PMS_USER,
        "pms_password": PMS_PASSWORD,
        "cookie_idle_timeout": 600.0,
        "max_login_failures": 5,
        "ban_seconds": 300.0,
        "rate_limit": None,
        **getattr(request, "param", {}),
    }


@pytest.fixture
def emulator(emulator_options):
    from pmsbridge.sim.pbx import EmulatorOptions, PbxEmulator

    with PbxEmulator(EmulatorOptions(**emulator_options)) as emu:
        yield emu


SettingsFactory = Callable[..., PbxSettings]


@pytest.fixture
def pbx_settings(emulator) -> SettingsFactory:
    """Build PbxSettings for the emulator, pinned to its certificate; keywords override."""

    def build(**overrides: object) -> PbxSettings:
        values: dict[str, object] = {
            "url": emulator.url,
            "username": API_USER,
            "password": API_PASSWORD,
            "pms_username": PMS_USER,
            "pms_password": PMS_PASSWORD,
            "tls_fingerprint": emulator.fingerprint,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
        }
        values.update(overrides)
        return PbxSettings(**{key: value for key, value in values.items() if value is not None})

    return build


@pytest.fixture
def make_client(pbx_settings) -> Iterator[Callable[..., PbxClient]]:
    """Build clients for the emulator (settings keywords, plus ``clock``); all closed afterwards."""
    clients: list[PbxClient] = []

    def build(clock: Callable[[], float] | None = None, **overrides: object) -> PbxClient:
        kwargs = {"clock": clock} if clock is not None else {}
        client = PbxClient(pbx_settings(**overrides), **kwargs)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> PbxClient:
    return make_client()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def restore_logging(capsys) -> Iterator[None]:
    """``pmsbridge.cli.main`` replaces the root logger's handlers; put them back afterwards.

    Depends on capsys so that capsys outlives it: the handler main() installs writes to
    the captured stderr until the original handlers are back.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def self_signed_certificate(directory: Path, name: str = "other", *, rsa_key: bool = False,
                            hosts: tuple[str, ...] = ("localhost",)) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and ``hosts``, written as PEM (cert, key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key else ec.generate_private_key(
        ec.SECP256R1()
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                         *(x509.DNSName(host) for host in hosts)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def errors_in_threads(work: Callable[[], None], count: int) -> list[BaseException]:
    """Run ``work`` in ``count`` threads that start together; what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run() -> None:
        try:
            start.wait()
            work()
        except BaseException as err:  # reported to the test's thread
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


class PbxLikeHandler(BaseHTTPRequestHandler):
    """Answers challenge, login and any other action with status 0, as a PBX would."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["request"]
        response = {"challenge": {"challenge": "0000000000000001"}, "login": {"cookie": "sid1-1"}}.get(
            request["action"], {"up-time": "00:00:01"}
        )
        self.answer("application/json", json.dumps({"status": 0, "response": response}).encode())

    def answer(self, content_type: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


HttpsServerFactory = Callable[..., tuple[str, str]]


@pytest.fixture
def https_server(tmp_path) -> Iterator[HttpsServerFactory]:
    """Start HTTPS servers on 127.0.0.1: ``start(handler, context=None)`` -> (url, fingerprint).

    Without a context, a fresh self-signed certificate is served with default TLS settings;
    a given context must have its certificate loaded and ``cert_path`` names it.
    """
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None = None,
              cert_path: Path | None = None) -> tuple[str, str]:
        if context is None:
            cert_path, key_path = self_signed_certificate(tmp_path, f"server{len(running)}")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_path, key_path)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        running.append((server, thread))
        fingerprint = certificate_fingerprint(ssl.PEM_cert_to_DER_cert(cert_path.read_text()))
        return f"https://127.0.0.1:{server.server_address[1]}", fingerprint

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()
