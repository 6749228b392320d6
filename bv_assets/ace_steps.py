"""What every ACE-calling step shares: the `ace_api` pool, the step retry policy, and
the rule that a rejected token never retries."""

from __future__ import annotations

import functools

import dagster as dg

from bv_ace.errors import AceAuthError
from bv_config.settings import Settings

# The pool's limit is set in the shipped bv_cli/shipped/dagster.yaml (concurrency.pools).
ACE_POOL = "ace_api"


def ace_retry_policy(settings: Settings) -> dg.RetryPolicy:
    """FlightDeck can answer 5xx "for a while": after the client's own retries, Dagster
    retries the whole step later (BV_STEP_RETRIES, BV_STEP_RETRY_DELAY_S)."""
    return dg.RetryPolicy(
        max_retries=settings.step_retries,
        delay=settings.step_retry_delay_s,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def no_retry_on_auth(fn):
    """A rejected token will not heal on retry: fail without Dagster retries."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AceAuthError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc

    return wrapper
