"""A re-materialization may add samples (late data) but must not quietly lose many: ACE
retention sliding through a day, or a partial outage, would otherwise replace a full
day with part of it. Allowed shrink: BV_MAX_SHRINK_RATIO (default 0.05 = 5 %); set it to
1 to accept a smaller day on purpose (e.g. after removing points from the catalog)."""

from __future__ import annotations

DEFAULT_MAX_SHRINK_RATIO = 0.05


def shrink_refusal(what: str, held: int | None, new: int, max_ratio: float = DEFAULT_MAX_SHRINK_RATIO) -> str | None:
    """An error text when replacing `held` rows by `new` loses more than `max_ratio` of them."""
    if not held or new >= held:
        return None
    if new >= held * (1 - max_ratio):
        return None
    return (
        f"{what}: the new result has {new} rows but {held} are stored ({(held - new) / held:.0%} fewer, "
        f"more than BV_MAX_SHRINK_RATIO={max_ratio}); refusing to replace them. If ACE really holds "
        "less now (points removed on purpose), set BV_MAX_SHRINK_RATIO=1 for this run."
    )
