"""``pmsbridge pbx status`` and ``pmsbridge pbx fingerprint``: connectivity checks for installers."""

from __future__ import annotations

import hmac
import sys

from pmsbridge.command_errors import EXIT_FAILURE, EXIT_OK
from pmsbridge.config import Settings
from pmsbridge.pbx.client import PbxClient
from pmsbridge.pbx.errors import PbxError
from pmsbridge.pbx.tls import fetch_fingerprint


def _fail(err: PbxError) -> int:
    print(f"pmsbridge: {err}", file=sys.stderr)
    return EXIT_FAILURE


def print_status(settings: Settings) -> int:
    """Log in and print the PBX's model, firmware, uptime, part number and clock.

    Returns 0, or 1 after printing one sentence on stderr when the PBX cannot be reached,
    refuses the login or answers unexpectedly.
    """
    try:
        with PbxClient(settings.pbx) as client:
            client.login()
            general = client.system_general_status()
            system = client.system_status()
    except PbxError as err:
        return _fail(err)
    rows = [
        ("PBX", settings.pbx.url),
        ("model", general.get("product-model")),
        ("firmware", general.get("prog-version")),
        ("uptime", system.get("up-time")),
        ("part number", system.get("part-number")),
        ("system time", system.get("system-time")),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label + ':':<{width + 1}} {value if value not in (None, '') else 'unknown'}")
    return EXIT_OK


def print_fingerprint(settings: Settings) -> int:
    """Print the SHA-256 fingerprint of the certificate at pbx.url and compare it with the pin.

    The first line is the fingerprint alone (for scripts); the second says whether it
    matches pbx.tls_fingerprint. Returns 1 when it does not match or the PBX cannot be reached.
    """
    pbx = settings.pbx
    try:
        fingerprint = fetch_fingerprint(pbx.url, pbx.connect_timeout, legacy=pbx.legacy_tls)
    except PbxError as err:
        return _fail(err)
    print(fingerprint)
    if pbx.tls_fingerprint is None:
        print(f'pbx.tls_fingerprint is not set; to pin this certificate, add to [pbx]: '
              f'tls_fingerprint = "{fingerprint}"')
        return EXIT_OK
    if hmac.compare_digest(fingerprint, pbx.tls_fingerprint):
        print("matches pbx.tls_fingerprint")
        return EXIT_OK
    print(
        f"does NOT match pbx.tls_fingerprint ({pbx.tls_fingerprint}); if the PBX certificate was replaced on "
        f"purpose, put the new fingerprint in pbx.tls_fingerprint",
        file=sys.stderr,
    )
    return EXIT_FAILURE
