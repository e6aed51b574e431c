"""The emulator's self-signed web certificate, like the one a real unit ships with.

A certificate already in the state directory is reused while it is valid and names the
host, so that a pinned fingerprint survives restarts of ``pmsbridge sim pbx``.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CERT_FILE = "pbx-emulator-cert.pem"
KEY_FILE = "pbx-emulator-key.pem"
VALID_DAYS = 3650


@dataclass(frozen=True)
class ServerCertificate:
    """A PEM certificate and key on disk, and the certificate's SHA-256 fingerprint."""

    cert_path: Path
    key_path: Path
    fingerprint: str


def fingerprint_of(certificate: x509.Certificate) -> str:
    """``sha256:<64 lower-case hex>`` of the DER encoding, the form the bridge pins."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def subject_names(host: str) -> list[x509.GeneralName]:
    """127.0.0.1 and localhost always, plus the bind host when it is a specific address or name."""
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host and host != "localhost":
            names.append(x509.DNSName(host))
    else:
        if not address.is_unspecified and x509.IPAddress(address) not in names:
            names.append(x509.IPAddress(address))
    return names


def load_or_create_certificate(directory: Path, host: str) -> ServerCertificate:
    """The certificate in ``directory``, made (or remade) when missing, expired or not for ``host``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    wanted = subject_names(host)
    existing = reusable_certificate(cert_path, key_path, wanted)
    if existing is not None:
        return ServerCertificate(cert_path, key_path, fingerprint_of(existing))
    certificate, key = create_certificate(wanted)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The key file is created owner-only before anything is written into it.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    log.info("generated a self-signed certificate in %s", directory)
    return ServerCertificate(cert_path, key_path, fingerprint_of(certificate))


def reusable_certificate(cert_path: Path, key_path: Path, wanted: list[x509.GeneralName]) -> x509.Certificate | None:
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    now = datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
        return None
    if any(name not in names for name in wanted):
        return None
    return certificate


def create_certificate(names: list[x509.GeneralName]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pmsbridge"),
            x509.NameAttribute(NameOID.COMMON_NAME, "FCM630A emulator"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Backdated a little so that a client with a slightly slow clock accepts it.
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # A self-signed certificate is its own issuer: OpenSSL trusts it as a ca_file only
        # when it may sign certificates.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key
