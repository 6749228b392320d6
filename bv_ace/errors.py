"""Typed errors of the ACE FlightDeck client.

Every message names the site (when there is one) and the endpoint path that failed, and
never the API token: the client scrubs the token from anything it puts into a message.
"""

from __future__ import annotations

import copy


class AceError(Exception):
    """Base of every ACE client error.

    Attributes: `site` (str | None), `endpoint` ("GET /sites/x/..." or None),
    `status` (HTTP status or None), `server_message` (the server's error text, scrubbed),
    `window` ("start..end" of the timeseries being fetched, or None).
    """

    def __init__(self, message: str, *, site: str | None = None, endpoint: str | None = None,
                 status: int | None = None, server_message: str | None = None, window: str | None = None):
        super().__init__(message)
        self.server_message = server_message
        self.site = site
        self.endpoint = endpoint
        self.status = status
        self.window = window


class AceAuthError(AceError):
    """401/403/422: ACE rejected the API token. Never retried."""


class AceNotFoundError(AceError):
    """404 on a site: the site does not exist for this token."""


class AceRetriesExhausted(AceError):
    """The bounded retries of one request are spent.

    `.last_error` describes the last failure (a string, or the exception if there was one);
    `.attempts` is how many requests were made.
    """

    def __init__(self, message: str, *, last_error=None, attempts: int = 0, **kwargs):
        super().__init__(message, **kwargs)
        self.last_error = last_error
        self.attempts = attempts


class AceProtocolError(AceError):
    """ACE broke the API contract: malformed envelope, a cursor that loops, a page that
    repeats, a body over the size cap, and the like. Not retried."""


class AceDeadlineExceeded(AceError):
    """A window (or listing) did not finish within its time budget: a slow-drip body, an
    endless retry storm. `.budget_s` is the budget; `.last_error` what was going on."""

    def __init__(self, message: str, *, budget_s: float = 0.0, last_error: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.budget_s = budget_s
        self.last_error = last_error


def with_context(exc: AceError, context: str, *, window: str | None = None) -> AceError:
    """A copy of `exc` (same type and attributes) whose message ends with `context`
    (e.g. the timeseries window), so every error names what was being fetched."""
    new = copy.copy(exc)
    new.args = (f"{exc.args[0] if exc.args else exc}; {context}",)
    if window is not None:
        new.window = window
    return new


__all__ = [
    "AceError",
    "AceAuthError",
    "AceNotFoundError",
    "AceRetriesExhausted",
    "AceProtocolError",
    "AceDeadlineExceeded",
    "with_context",
]
