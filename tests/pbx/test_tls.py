"""Trusting the PBX certificate: pinning, CA file, verify = false, legacy DH, fingerprints."""

from __future__ import annotations

import base64
import hashlib
import logging
import ssl
from pathlib import Path

import pytest
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util.ssl_ import create_urllib3_context

from pmsbridge.pbx.errors import PbxTlsError, PbxUnreachable
from pmsbridge.pbx.tls import certificate_fingerprint, fetch_fingerprint
from tests.pbx.conftest import PbxLikeHandler, self_signed_certificate

# RFC 2409's 1024-bit MODP group: the size of DH group old firmware serves.
OAKLEY_GROUP_2 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    16,
)


def dh_parameters_pem(prime: int, generator: int) -> bytes:
    """PKCS#3 DHParameter (SEQUENCE of two INTEGERs) as PEM, the form OpenSSL loads."""

    def der(tag: int, content: bytes) -> bytes:
        size = len(content)
        length = bytes([size]) if size < 0x80 else bytes([0x80 | 2]) + size.to_bytes(2, "big")
        return bytes([tag]) + length + content

    def integer(value: int) -> bytes:
        return der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))

    encoded = base64.encodebytes(der(0x30, integer(prime) + integer(generator))).replace(b"\n", b"")
    lines = [encoded[start:start + 64] for start in range(0, len(encoded), 64)]
    return b"-----BEGIN DH PARAMETERS-----\n" + b"\n".join(lines) + b"\n-----END DH PARAMETERS-----\n"


def test_a_pinned_certificate_is_accepted(client, emulator):
    client.login()
    assert emulator.counters()["login"] == 1


def test_a_certificate_that_does_not_match_the_pin_is_refused_before_anything_is_sent(make_client, emulator):
    pin = "sha256:" + "0" * 64
    client = make_client(tls_fingerprint=pin)
    with pytest.raises(PbxTlsError) as caught:
        client.login()
    message = str(caught.value)
    assert caught.value.permanent
    assert "does not match pbx.tls_fingerprint" in message
    assert emulator.fingerprint in message
    assert pin in message
    assert emulator.requests_log == []


def test_a_ca_file_that_signed_the_certificate_is_accepted(make_client, emulator):
    client = make_client(tls_fingerprint=None, ca_file=emulator.cert_path)
    client.login()
    assert emulator.counters()["login"] == 1


def test_a_ca_file_that_did_not_sign_the_certificate_is_refused(make_client, emulator, tmp_path):
    other_cert, _ = self_signed_certificate(tmp_path)
    client = make_client(tls_fingerprint=None, ca_file=other_cert)
    with pytest.raises(PbxTlsError) as caught:
        client.login()
    assert f"not trusted by pbx.ca_file ({other_cert})" in str(caught.value)
    assert emulator.requests_log == []


def test_a_ca_file_certificate_must_name_the_host_of_the_url(make_client, https_server, tmp_path):
    cert_path, key_path = self_signed_certificate(tmp_path, "elsewhere", hosts=("pbx.example",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    url, _ = https_server(PbxLikeHandler, context, cert_path)
    # Served at "localhost", which the certificate does not name (it names 127.0.0.1).
    client = make_client(url=url.replace("127.0.0.1", "localhost"), tls_fingerprint=None, ca_file=cert_path)
    with pytest.raises(PbxTlsError, match=r"not trusted by pbx\.ca_file .*localhost"):
        client.login()
    assert "up-time" in make_client(url=url, tls_fingerprint=None, ca_file=cert_path).system_status()


def test_a_self_signed_certificate_is_not_trusted_by_the_system_cas(make_client):
    client = make_client(tls_fingerprint=None)
    with pytest.raises(PbxTlsError) as caught:
        client.login()
    message = str(caught.value)
    assert "not trusted by the system's CAs" in message
    assert "pbx.tls_fingerprint" in message


def test_verify_false_works_and_warns_at_every_construction(make_client, emulator, caplog, recwarn):
    caplog.set_level(logging.WARNING, logger="pmsbridge.pbx.tls")
    client = make_client(tls_fingerprint=None, verify=False)
    make_client(tls_fingerprint=None, verify=False)
    warnings = [record for record in caplog.records if "pbx.verify = false" in record.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].getMessage().startswith("TLS verification of the PBX is off (pbx.verify = false)")
    client.login()
    client.system_status()
    assert not [warning for warning in recwarn if issubclass(warning.category, InsecureRequestWarning)]


def test_a_verified_client_does_not_warn(make_client, caplog):
    caplog.set_level(logging.WARNING)
    make_client()
    assert caplog.records == []


def test_fetch_fingerprint_reads_the_certificate_without_trusting_it(emulator):
    assert fetch_fingerprint(emulator.url, 2.0) == emulator.fingerprint
    assert emulator.requests_log == []


def test_fetch_fingerprint_of_a_closed_port(closed_port):
    with pytest.raises(PbxUnreachable, match="connection refused"):
        fetch_fingerprint(f"https://127.0.0.1:{closed_port}", 2.0)


def test_certificate_fingerprint_is_sha256_of_der(tmp_path):
    cert_path, _ = self_signed_certificate(tmp_path)
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    assert certificate_fingerprint(der) == "sha256:" + hashlib.sha256(der).hexdigest()


# -- old firmware with weak Diffie-Hellman parameters ----------------------------------------


@pytest.fixture
def weak_dh_server(tmp_path: Path, https_server) -> tuple[str, str]:
    """An HTTPS server that offers only DHE with a 1024-bit group: (url, fingerprint)."""
    dh_path = tmp_path / "dh1024.pem"
    dh_path.write_bytes(dh_parameters_pem(OAKLEY_GROUP_2, 2))
    cert_path, key_path = self_signed_certificate(tmp_path, "old-unit", rsa_key=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0")
    context.load_dh_params(str(dh_path))
    context.load_cert_chain(cert_path, key_path)
    return https_server(PbxLikeHandler, context, cert_path)


def test_weak_dh_parameters_need_legacy_tls(make_client, weak_dh_server):
    url, fingerprint = weak_dh_server
    client = make_client(url=url, tls_fingerprint=fingerprint)
    # OpenSSL's security level 2 (the common default) refuses a 1024-bit group; level 1 allows it.
    if create_urllib3_context().security_level >= 2:
        with pytest.raises(PbxTlsError) as caught:
            client.login()
        assert "DH_KEY_TOO_SMALL" in str(caught.value)
        assert "pbx.legacy_tls = true" in str(caught.value)
        with pytest.raises(PbxTlsError, match=r"set pbx\.legacy_tls = true"):
            fetch_fingerprint(url, 2.0)
    else:
        client.login()


def test_legacy_tls_talks_to_an_old_unit_and_still_checks_the_pin(make_client, weak_dh_server):
    url, fingerprint = weak_dh_server
    client = make_client(url=url, tls_fingerprint=fingerprint, legacy_tls=True)
    client.login()
    assert client.system_status() == {"up-time": "00:00:01"}
    assert fetch_fingerprint(url, 2.0, legacy=True) == fingerprint
    wrong_pin = make_client(url=url, tls_fingerprint="sha256:" + "1" * 64, legacy_tls=True)
    with pytest.raises(PbxTlsError, match=r"does not match pbx\.tls_fingerprint"):
        wrong_pin.login()
