"""API keys for the HTTP API, from `BV_API_KEYS` only.

Format: comma-separated entries `<key>` (all sites) or `<key>:<site>|<site>` (those sites);
`<key>:*` is all sites too. Unset or empty: the API is open (the embedded default).
Keys are compared in constant time and never logged, echoed or put in errors.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

ALL_SITES = "*"


class AuthError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class ApiKey:
    secret: bytes
    sites: frozenset[str]  # {"*"} = every site

    def allows(self, site: str) -> bool:
        return ALL_SITES in self.sites or site in self.sites


def parse_api_keys(raw: str | None) -> list[ApiKey]:
    keys = []
    for entry in (raw or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        secret, _, scope = entry.partition(":")
        if len(secret) < 16:
            # Say which entry without showing it: its position only.
            raise ValueError(f"BV_API_KEYS entry #{len(keys) + 1} has a key shorter than 16 characters")
        sites = frozenset(s.strip() for s in (scope or ALL_SITES).split("|") if s.strip()) or frozenset({ALL_SITES})
        keys.append(ApiKey(secret.encode(), sites))
    return keys


class KeyRing:
    def __init__(self, keys: list[ApiKey]):
        self.keys = keys

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """The key presented in `Authorization: Bearer <key>`; AuthError(401) if none matches."""
        if not self.enabled:
            return None
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise AuthError(401, "missing API key: send Authorization: Bearer <key>")
        token = presented.strip().encode()
        match = None
        for key in self.keys:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(key.secret, token):
                match = key
        if match is None:
            raise AuthError(401, "API key not accepted")
        return match

    @staticmethod
    def check_site(key: ApiKey | None, site: str) -> None:
        if key is not None and not key.allows(site):
            raise AuthError(403, f"this API key may not read site {site!r}")
