"""The key that signs session cookies: ``web.secret_key``, else one generated once in state_dir.

The generated key lives in ``<bridge.state_dir>/web-secret`` (mode 0600), so sessions
survive a restart and two processes on one state directory agree on it.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pmsbridge.config import Settings

log = logging.getLogger(__name__)

SECRET_FILE = "web-secret"


class SecretKeyError(RuntimeError):
    """Raised when the generated session key can be neither read nor created."""


def session_secret(settings: Settings) -> bytes:
    if settings.web.secret_key is not None:
        return settings.web.secret_key.get_secret_value().encode("utf-8")
    return _generated_secret(settings.bridge.state_dir / SECRET_FILE)


def _generated_secret(path: Path) -> bytes:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_secret(path)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        log.info("generated the web session key in %s", path)
        return _read_secret(path)
    except OSError as err:
        raise SecretKeyError(
            f"cannot read or create the web session key {path} ({err.strerror or err}); "
            "set web.secret_key_file or make bridge.state_dir writable"
        ) from err


def _read_secret(path: Path) -> bytes:
    if path.stat().st_mode & 0o077:
        log.warning("%s can be read by other users; chmod 600 it", path)
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise SecretKeyError(f"the web session key in {path} is too short; delete the file to generate a new one")
    return key
