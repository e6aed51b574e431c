"""The one error the emulator raises internally: an API status to answer with.

::

    Exception
     └── ApiError   a request cannot be carried out; ``status`` is the code from the
                    guide's Table 75 that the firmware would answer with

Everything below the HTTP layer raises :class:`ApiError`; the API layer turns it into the
firmware's error body ``{"status": <code>, "response": {...}}`` and the ``/sim`` control
endpoints into an HTTP 400 or 404.
"""

from __future__ import annotations

from typing import Any

# The codes the emulator answers with (guide, Table 75).
INVALID_PARAMETERS = -1
COOKIE_ERROR = -6
ABNORMAL_ERROR = -9
NO_SUCH_ITEM = -16
UNSUPPORTED = -19
WRONG_ACCOUNT_OR_PASSWORD = -37
TOO_FREQUENT = -45
CONFERENCE_RUNNING = -69


class ApiError(Exception):
    """Raised when a request cannot be carried out.

    ``status`` is the firmware's status code, ``message`` the error text (placed in the
    response under the configured error key, or left out when ``None``), ``fields`` extra
    response members such as ``remain_num`` and ``remain_time``.
    """

    def __init__(self, status: int, message: str | None = None, **fields: Any):
        super().__init__(message or f"status {status}")
        self.status = status
        self.message = message
        self.fields = fields
