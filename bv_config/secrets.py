"""The secret values this process holds, read from the environment only (never from a file),
so code that must keep them out of messages can mask them."""

from __future__ import annotations

import os
from typing import Mapping

SECRET_VARIABLES = ("ACE_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def secret_values(env: Mapping[str, str] | None = None, *extra: str | None) -> list[str]:
    """Every secret value (ACE token, AWS secrets, each BV_API_KEYS key, `extra`), longest first."""
    env = os.environ if env is None else env
    values = [env.get(name) for name in SECRET_VARIABLES] + list(extra)
    values += [entry.split(":", 1)[0].strip() for entry in env.get("BV_API_KEYS", "").split(",")]
    return sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True)
