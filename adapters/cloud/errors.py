"""What can go wrong talking to a cloud PMS, as one tree; ``requests`` errors are translated here.

::

    PmsApiError                    a call to the PMS's API failed; ``permanent``: retrying cannot help
     ├── PmsUnreachable            no answer: refused, timed out, cut off (``sent``: the request may have arrived)
     ├── PmsAuthFailed             401/403, or no token: the credentials or their rights are wrong (permanent)
     ├── PmsRateLimited            429 still after the waits allowed; ``retry_after`` in seconds
     ├── PmsServerError            5xx: the PMS failed
     ├── PmsRefused                another 4xx, or an error envelope: the PMS will not do it (permanent)
     └── PmsAnswerUnreadable       a 2xx whose body is not the JSON the vendor documents

Nothing in a message is secret: the session never puts a token into one.
"""

from __future__ import annotations


class PmsApiError(Exception):
    """Raised when a call to a cloud PMS's API fails; see the module docstring for the subclasses."""

    permanent = False

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class PmsUnreachable(PmsApiError):
    """Raised when no answer came; ``sent`` when the request may have reached the PMS before the failure."""

    def __init__(self, message: str, *, sent: bool):
        super().__init__(message)
        self.sent = sent


class PmsAuthFailed(PmsApiError):
    """Raised on 401/403 (after one fresh token) or when no token can be had."""

    permanent = True


class PmsRateLimited(PmsApiError):
    """Raised on 429 when the waits ``Retry-After`` asks for exceed what the caller allows."""

    def __init__(self, message: str, *, retry_after: float | None):
        super().__init__(message, status=429)
        self.retry_after = retry_after


class PmsServerError(PmsApiError):
    """Raised on a 5xx answer that stayed after the retries."""


class PmsRefused(PmsApiError):
    """Raised on another 4xx, or a 2xx that says ``success: false``: the request itself is wrong."""

    permanent = True


class PmsAnswerUnreadable(PmsApiError):
    """Raised when a 2xx answer is not the JSON the vendor documents."""

    permanent = True
