"""Logging for journald: one line per record on stderr, as text or as JSON.

Every record passes a ``SecretRedactor`` first: the secrets of the configuration (passwords,
tokens, cookies, HMAC keys, registered with ``redact_secrets``) and anything shaped like the
PBX's derived secrets never reach a log line, whoever logged them.

Log lines carry text from outside (file names, FIAS records, HTTP header values), so the
formatters, and only they, make a message one line whatever it holds: control characters
(C0, DEL, C1, and the Unicode line and paragraph separators) are written as ``\\n``, ``\\x1b``,
``\\u2028``... and the lines of a traceback that follow a text record are indented. No logged
value can start a line that looks like a record of its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from pydantic import BaseModel, SecretStr

REDACTED = "[redacted]"

# Secrets no configuration names, yet as good as a password: the MD5 tokens of the PBX
# login and of pmsapi (32 hex digits) and the PBX session cookie ("sid<digits>-<digits>").
DERIVED_SECRET_PATTERNS = (
    r"(?<![0-9A-Za-z])[0-9A-Fa-f]{32}(?![0-9A-Za-z])",
    r"(?<![0-9A-Za-z])sid\d+-\d+(?![0-9A-Za-z])",
)

# Every character that ends a line, moves the cursor or colours a terminal; a tab stays.
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r"}
# Continuation lines (a traceback) start with this, never at a record's first column.
CONTINUATION_INDENT = "    "

# sd-daemon(3) priority prefixes: journald reads them, so `journalctl -p warning` works.
JOURNAL_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL_CHARACTERS.sub(_escape_control, text)


def _escape_control(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    return _NAMED_ESCAPES.get(character) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


class TextFormatter(logging.Formatter):
    """Text lines: the message escaped to one line, a traceback's lines indented below it."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        first, _, continuation = super().format(record).partition("\n")
        if not continuation:
            return first
        return first + "\n" + "\n".join(CONTINUATION_INDENT + line for line in continuation.split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for sites that ship the journal to a log store."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": escape_controls(record.getMessage()),
        }
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class JournalFormatter(TextFormatter):
    """Text for journald: the level as a priority prefix, no timestamp (the journal adds its own)."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = JOURNAL_PRIORITIES.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>{super().format(record)}"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when the record comes (as ``logging.lastResort``
    does): a handler set up once keeps working when stderr is replaced, as test runners do."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # noqa: ANN201 - whatever sys.stderr is
        return sys.stderr


class SecretRedactor(logging.Filter):
    """Replaces secrets with ``[redacted]`` in every record that passes the handler.

    Redacted are the values given to ``add`` (also as they appear escaped in JSON or in a
    URL) and the shapes in ``DERIVED_SECRET_PATTERNS``. The message is formatted here, so a
    secret passed as an argument is caught as well; exception text and stack are rendered
    and redacted here too. The record is changed in place, for every later handler.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern = self._compile()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if secret:
                variants.update({secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)})
        with self._lock:
            if variants <= self._secrets:
                return
            self._secrets |= variants
            self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        # Longest first, so that a secret containing another one is replaced whole.
        literal = [re.escape(secret) for secret in sorted(self._secrets, key=len, reverse=True)]
        return re.compile("|".join([*literal, *DERIVED_SECRET_PATTERNS]))

    def redact(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # the handler would print msg and args verbatim in its error report
            message = f"{record.msg} (log arguments that do not fit the message: {record.args!r})"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def installed_redactors() -> list[SecretRedactor]:
    return [f for handler in logging.getLogger().handlers for f in handler.filters if isinstance(f, SecretRedactor)]


def redact_secrets(secrets: Iterable[str]) -> None:
    """Never log ``secrets``: add them to the redactor of the handler ``setup_logging`` installed."""
    secrets = list(secrets)
    for redactor in installed_redactors():
        redactor.add(secrets)


def configured_secrets(settings: BaseModel) -> set[str]:
    """Every secret a configuration holds: each SecretStr anywhere in it (adapter sections
    included), each password written inside a URL (``bridge.database_url``), and the pmsapi
    token derived from ``pbx.pms_username`` and ``pbx.pms_password``."""
    secrets = set(_secret_values(settings))
    pbx = getattr(settings, "pbx", None)
    if pbx is not None:
        from pmsbridge.pbx.pmsapi import pms_token

        secrets.add(pms_token(pbx.pms_username, pbx.pms_password.get_secret_value()))
    secrets.discard("")
    return secrets


def _secret_values(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_values(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_values(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secret_values(item)
    elif isinstance(value, str) and "://" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            yield password


def stderr_is_journal() -> bool:
    """True when stderr is connected to journald (systemd sets $JOURNAL_STREAM to its device:inode)."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    try:
        status = os.fstat(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return stream == f"{status.st_dev}:{status.st_ino}"


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr at ``level`` as ``fmt`` ("text" or "json"), secrets redacted.

    Calling it again (a command reconfigures from its configuration file) keeps the secrets
    registered so far.
    """
    handler = StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif stderr_is_journal():
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redactors = installed_redactors()
    handler.addFilter(redactors[0] if redactors else SecretRedactor())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that narrate their routine work at INFO (job added, plugin loaded, each
    # connection opened) would drown the bridge's own lines in the journal.
    for noisy in ("urllib3", "alembic.runtime.plugins", "alembic.runtime.migration", "apscheduler", "waitress.queue"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
