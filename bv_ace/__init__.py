"""Client of the ACE IoT FlightDeck API (docs/ace-api.md): `AceClient` and its typed errors.

Modules: `transport` (HTTP, auth, retries, pacing, errors), `pages` (page decoding),
`stream` (the timeseries cursor stream), `parallel` (several streams read at once), `body` (bounded body
decoding), `client` (the endpoints), `pacer`, `errors`.
"""

from bv_ace.client import AceClient
from bv_ace.errors import (
    AceAuthError,
    AceDeadlineExceeded,
    AceError,
    AceNotFoundError,
    AceProtocolError,
    AceRetriesExhausted,
)
from bv_ace.pages import RAW_SAMPLE_SCHEMA

__all__ = [
    "AceClient",
    "AceError",
    "AceAuthError",
    "AceDeadlineExceeded",
    "AceNotFoundError",
    "AceProtocolError",
    "AceRetriesExhausted",
    "RAW_SAMPLE_SCHEMA",
]
