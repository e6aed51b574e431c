"""How the bridge trusts the PBX's certificate, and what it says when that trust fails.

A PBX serves its web certificate on the API port, and on real sites that certificate is
usually self-signed. Four ways to trust it, chosen by the ``[pbx]`` settings:

- ``tls_fingerprint`` (recommended): the SHA-256 of the certificate must equal the pin;
  hostname and CA are not checked, so a self-signed certificate on a bare IP works.
- ``ca_file``: the certificate must chain to that CA and name the host of ``pbx.url``.
- neither: the system's CA bundle, with the hostname checked.
- ``verify = false``: nothing is checked; a warning is logged whenever a client is built.

``legacy_tls`` lowers OpenSSL's security level for older units whose Diffie-Hellman
parameters current OpenSSL refuses (DH_KEY_TOO_SMALL).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import ssl
from urllib.parse import urlsplit

from urllib3.util.ssl_ import create_urllib3_context

from pmsbridge.config import PbxSettings
from pmsbridge.pbx.errors import PbxTlsError, PbxUnreachable, describe_os_error, exception_chain

log = logging.getLogger(__name__)

# Accepts DH groups and keys below 2048 bits, which OpenSSL 3 refuses at its default level.
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"


def certificate_fingerprint(der: bytes) -> str:
    """``sha256:<hex>`` of a DER-encoded certificate, the form pbx.tls_fingerprint takes."""
    return "sha256:" + hashlib.sha256(der).hexdigest()


def legacy_context() -> ssl.SSLContext:
    """An SSL context that accepts the weak DH parameters of old firmware (nothing verified:
    the caller sets what to check)."""
    context = create_urllib3_context()
    context.set_ciphers(LEGACY_CIPHERS)
    context.check_hostname = False
    return context


def unverified_context(legacy: bool) -> ssl.SSLContext:
    """urllib3's defaults with nothing checked in the handshake (``legacy``: old firmware's DH)."""
    context = legacy_context() if legacy else create_urllib3_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def trust_context(settings: PbxSettings) -> ssl.SSLContext:
    """The SSL context for connections to the PBX under the [pbx] trust settings.

    urllib3's defaults (TLS 1.2 or newer, its cipher choice). With a pin, or verify = false,
    the handshake checks nothing and the pin is checked right after it (``check_pin``);
    otherwise the certificate must chain to pbx.ca_file, or to the system's CAs, and name
    the host of pbx.url.
    """
    if settings.tls_fingerprint or not settings.verify:
        return unverified_context(settings.legacy_tls)
    context = legacy_context() if settings.legacy_tls else create_urllib3_context()
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=str(settings.ca_file))
    else:
        context.load_default_certs()
    return context


def check_pin(der: bytes | None, settings: PbxSettings) -> None:
    """Raise PbxTlsError unless the certificate ``der`` matches pbx.tls_fingerprint (if set)."""
    if not settings.tls_fingerprint:
        return
    if der is None:
        raise PbxTlsError(f"the PBX at {settings.url} sent no certificate to check against pbx.tls_fingerprint")
    actual = certificate_fingerprint(der)
    if not hmac.compare_digest(actual, settings.tls_fingerprint):
        raise PbxTlsError(
            f"the certificate of the PBX at {settings.url} ({actual}) does not match "
            f"pbx.tls_fingerprint ({settings.tls_fingerprint}); if the PBX certificate was replaced on "
            f"purpose, check it with `pmsbridge pbx fingerprint` and update pbx.tls_fingerprint"
        )


def warn_if_unverified(settings: PbxSettings) -> None:
    """Log the warning an operator must see whenever the PBX certificate goes unchecked."""
    if settings.verify:
        return
    log.warning(
        "TLS verification of the PBX is off (pbx.verify = false): anyone on the network path can "
        "impersonate it; pin its certificate with pbx.tls_fingerprint (see `pmsbridge pbx fingerprint`)"
    )


def weak_dh_error(url: str) -> PbxTlsError:
    return PbxTlsError(
        f"the PBX at {url} offers Diffie-Hellman parameters that OpenSSL refuses as too weak "
        f"(DH_KEY_TOO_SMALL); for this older unit set pbx.legacy_tls = true"
    )


def tls_failure(err: BaseException, settings: PbxSettings) -> PbxTlsError:
    """Translate a failed TLS handshake with the PBX into a PbxTlsError saying what to fix."""
    chain = list(exception_chain(err))
    url = settings.url
    if any(isinstance(item, ssl.SSLError) and item.reason == "DH_KEY_TOO_SMALL" for item in chain):
        return weak_dh_error(url)
    verify_errors = [item for item in chain if isinstance(item, ssl.SSLCertVerificationError | ssl.CertificateError)]
    if verify_errors:
        problem = getattr(verify_errors[0], "verify_message", None) or str(verify_errors[0])
        if settings.ca_file is not None:
            return PbxTlsError(
                f"the certificate of the PBX at {url} is not trusted by pbx.ca_file ({settings.ca_file}): {problem}"
            )
        return PbxTlsError(
            f"the certificate of the PBX at {url} is not trusted by the system's CAs ({problem}); pin it with "
            f"pbx.tls_fingerprint (see `pmsbridge pbx fingerprint`) or name its CA in pbx.ca_file"
        )
    handshake = next((item for item in chain if isinstance(item, ssl.SSLError)), err)
    hint = "" if settings.legacy_tls else "; if this is an older unit, try pbx.legacy_tls = true"
    return PbxTlsError(f"the TLS handshake with the PBX at {url} (pbx.url) failed: {handshake}{hint}")


def fetch_fingerprint(url: str, timeout: float, *, legacy: bool = False) -> str:
    """Connect to the HTTPS server at ``url`` and return its certificate's ``sha256:<hex>``.

    The certificate is not verified (that is what the fingerprint is for) and nothing is
    sent after the handshake. Raises PbxUnreachable or PbxTlsError.
    """
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 443
    if not host:
        raise ValueError(f"{url!r} has no host")
    context = unverified_context(legacy)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLError as err:
        if err.reason == "DH_KEY_TOO_SMALL" and not legacy:
            raise weak_dh_error(url) from err
        raise PbxTlsError(f"the TLS handshake with {url} (pbx.url) failed: {err}") from err
    except OSError as err:
        raise PbxUnreachable(f"cannot connect to the PBX at {url} (pbx.url): {describe_os_error(err)}") from err
    if der is None:
        raise PbxTlsError(f"the server at {url} (pbx.url) sent no certificate")
    return certificate_fingerprint(der)

