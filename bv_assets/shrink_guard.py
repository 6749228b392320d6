"""A re-materialization may add samples (late data) but must not quietly lose many: ACE
retention sliding through a day, or a partial outage, would otherwise replace a full
day with part of it. Allowed shrink: BV_MAX_SHRINK_RATIO (default 0.05 = 5 %); set it to
1 to accept a smaller day on purpose (e.g. after removing points from the catalog)."""

from __future__ import annotations

import os


def max_shrink_ratio() -> float:
    raw = os.environ.get("BV_MAX_SHRINK_RATIO", "0.05")
    try:
        ratio = float(raw)
    except ValueError:
        raise ValueError(f"BV_MAX_SHRINK_RATIO={raw!r} is not a number between 0 and 1") from None
    if not 0 <= ratio <= 1:
        raise ValueError(f"BV_MAX_SHRINK_RATIO={raw!r} is not between 0 and 1")
    return ratio


def shrink_refusal(what: str, held: int | None, new: int) -> str | None:
    """An error text when replacing `held` rows by `new` loses more than the allowed share."""
    if not held or new >= held:
        return None
    ratio = max_shrink_ratio()
    if new >= held * (1 - ratio):
        return None
    return (
        f"{what}: the new result has {new} rows but {held} are stored ({(held - new) / held:.0%} fewer, "
        f"more than BV_MAX_SHRINK_RATIO={ratio}); refusing to replace them. If ACE really holds "
        "less now (points removed on purpose), set BV_MAX_SHRINK_RATIO=1 for this run."
    )
