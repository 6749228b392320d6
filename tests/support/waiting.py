"""Waiting for a started process to be ready, with a bound."""

from __future__ import annotations

import time

import httpx


def wait_for(predicate, timeout_s: float, what: str, *, every_s: float = 2.0):
    """The first truthy value of `predicate()`, or an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
