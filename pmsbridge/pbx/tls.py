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
import logging
import re
import socket
import ssl
import warnings
from typing import Any
from urllib.parse import urlsplit

from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from urllib3 import HTTPSConnectionPool
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util.ssl_ import create_urllib3_context

from pmsbridge.config import PbxSettings
from pmsbridge.pbx.errors import PbxTlsError, PbxUnreachable, describe_os_error, exception_chain

log = logging.getLogger(__name__)

# Accepts DH groups and keys below 2048 bits, which OpenSSL 3 refuses at its default level.
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"

# urllib3 reports a pin mismatch only through this message.
_PIN_MISMATCH = re.compile(
    r'Fingerprints did not match\. Expected "(?P<expected>[0-9a-f]+)", got "(?P<actual>[0-9a-f]+)"'
)


def certificate_fingerprint(der: bytes) -> str:
    """``sha256:<hex>`` of a DER-encoded certificate, the form pbx.tls_fingerprint takes."""
    return "sha256:" + hashlib.sha256(der).hexdigest()


def legacy_context() -> ssl.SSLContext:
    """An SSL context that accepts the weak DH parameters of old firmware.

    Hostname checking is left to urllib3 (it needs ``check_hostname`` off to switch
    verification per connection); whether the certificate is verified is still decided by
    the verify mode urllib3 sets from the settings.
    """
    context = create_urllib3_context()
    context.set_ciphers(LEGACY_CIPHERS)
    context.check_hostname = False
    return context


class PbxTlsAdapter(HTTPAdapter):
    """A requests transport adapter that applies the [pbx] trust settings to every request.

    It overrides the ``verify`` argument a session passes, so a session that mounts it
    cannot weaken the configured trust by accident. Retries are off: the dispatcher
    decides when to send a request again.
    """

    def __init__(self, settings: PbxSettings, *, pool_maxsize: int = 8):
        self._settings = settings
        super().__init__(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if self._settings.tls_fingerprint:
            # urllib3 compares the SHA-256 of the DER certificate in constant time.
            pool_kwargs["assert_fingerprint"] = self._settings.tls_fingerprint.removeprefix("sha256:")
        if self._settings.legacy_tls:
            pool_kwargs["ssl_context"] = legacy_context()
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    @property
    def verify(self) -> bool | str:
        """The ``verify`` value requests needs for these settings."""
        if self._settings.tls_fingerprint or not self._settings.verify:
            # With a pin, the pin is the whole check: no CA, no hostname.
            return False
        if self._settings.ca_file is not None:
            return str(self._settings.ca_file)
        return True

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True, cert: Any = None,
             proxies: Any = None) -> Any:
        return super().send(request, stream=stream, timeout=timeout, verify=self.verify, cert=cert, proxies=proxies)

    def pool_for(self, url: str) -> HTTPSConnectionPool:
        """The keep-alive connection pool this adapter sends ``url``'s requests through, with
        the [pbx] trust settings applied (pin, CA file, legacy TLS): for a caller that posts
        through urllib3 itself, without requests' per-request work."""
        request = PreparedRequest()
        request.prepare_url(url, None)
        return self.get_connection_with_tls_context(request, self.verify)


def warn_if_unverified(settings: PbxSettings) -> None:
    """Log the warning an operator must see whenever the PBX certificate goes unchecked."""
    if settings.verify:
        return
    log.warning(
        "TLS verification of the PBX is off (pbx.verify = false): anyone on the network path can "
        "impersonate it; pin its certificate with pbx.tls_fingerprint (see `pmsbridge pbx fingerprint`)"
    )
    # The warning above is the one operators need; urllib3 would repeat its own on every request.
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)


def weak_dh_error(url: str) -> PbxTlsError:
    return PbxTlsError(
        f"the PBX at {url} offers Diffie-Hellman parameters that OpenSSL refuses as too weak "
        f"(DH_KEY_TOO_SMALL); for this older unit set pbx.legacy_tls = true"
    )


def tls_failure(err: BaseException, settings: PbxSettings) -> PbxTlsError:
    """Translate a failed TLS handshake with the PBX into a PbxTlsError saying what to fix."""
    chain = list(exception_chain(err))
    texts = " ".join(str(item) for item in chain)
    url = settings.url

    mismatch = _PIN_MISMATCH.search(texts)
    if mismatch:
        return PbxTlsError(
            f"the certificate of the PBX at {url} (sha256:{mismatch['actual']}) does not match "
            f"pbx.tls_fingerprint (sha256:{mismatch['expected']}); if the PBX certificate was replaced on "
            f"purpose, check it with `pmsbridge pbx fingerprint` and update pbx.tls_fingerprint"
        )
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
    context = legacy_context() if legacy else create_urllib3_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
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

