"""Fault modes the simulator can inject, so clients can be tested against a misbehaving ACE.

Counters (the "every Nth request") live in `FaultCounters` and restart whenever faults are
set, so a test sees the same fault at the same request every time.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class FaultConfig:
    """Which faults are on. The zero value (`FaultConfig()`) is a healthy server.

    - reject_token: every /api request -> 401 {"msg": "Token has expired"}.
    - rate_limit_every=N: every Nth /api request -> 429 with `Retry-After: retry_after_s`
      (None: no header).
    - server_error_every=N: every Nth /api request -> 500 / 502 / 503 in turn, JSON or HTML.
    - truncate_above_page_size=N: a timeseries answer asked with page_size > N announces the
      full Content-Length, sends half the body and closes the connection.
    - slow_s: sleep this long before answering an /api request.
    - resend_overlap=K: each page after the first re-sends the last K samples of the page
      before it (duplicates across a page boundary).
    - empty_window="404"|"200": every timeseries request answers "no data".
    - empty_page_every=N: every Nth timeseries page is empty but carries a valid cursor.
    """

    reject_token: bool = False
    rate_limit_every: int = 0
    retry_after_s: float | None = 1
    server_error_every: int = 0
    truncate_above_page_size: int = 0
    slow_s: float = 0.0
    resend_overlap: int = 0
    empty_window: str | None = None
    empty_page_every: int = 0

    def __post_init__(self):
        ew = self.empty_window
        if ew is not None and str(ew) not in ("404", "200"):
            raise ValueError(f"empty_window must be '404' or '200', not {ew!r}")
        if ew is not None:
            object.__setattr__(self, "empty_window", str(ew))
        for name in ("rate_limit_every", "server_error_every", "truncate_above_page_size",
                     "resend_overlap", "empty_page_every"):
            value = int(getattr(self, name) or 0)
            if value < 0:
                raise ValueError(f"{name} must be >= 0")
            object.__setattr__(self, name, value)
        if float(self.slow_s) < 0:
            raise ValueError("slow_s must be >= 0")
        if self.retry_after_s is not None and float(self.retry_after_s) < 0:
            raise ValueError("retry_after_s must be >= 0")
        object.__setattr__(self, "reject_token", bool(self.reject_token))

    @property
    def active(self) -> bool:
        return self != FaultConfig()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaultConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def parse_cli(cls, items: list[str] | None) -> "FaultConfig":
        """`["rate_limit_every=3", "reject_token"]` -> FaultConfig (a bare name means true / 1)."""
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for item in items or []:
            name, sep, raw = item.partition("=")
            name = name.strip().replace("-", "_")
            if name not in types:
                raise ValueError(f"unknown fault {name!r}; known: {sorted(types)}")
            if name == "reject_token":
                values[name] = (raw.strip().lower() not in ("0", "false", "no", "off")) if sep else True
            elif name == "empty_window":
                values[name] = raw.strip() if sep else "404"
            elif name == "retry_after_s":
                values[name] = None if raw.strip().lower() in ("none", "") else float(raw)
            elif name == "slow_s":
                values[name] = float(raw) if sep else 1.0
            else:
                values[name] = int(raw) if sep else 1
        return cls(**values)


class FaultCounters:
    """Request counters since the faults were last set (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.api_requests = 0
        self.timeseries_pages = 0
        self.server_errors = 0

    def next_api(self) -> int:
        with self._lock:
            self.api_requests += 1
            return self.api_requests

    def next_page(self) -> int:
        with self._lock:
            self.timeseries_pages += 1
            return self.timeseries_pages

    def next_error(self) -> int:
        with self._lock:
            self.server_errors += 1
            return self.server_errors

    def to_dict(self) -> dict[str, int]:
        return {"api_requests": self.api_requests, "timeseries_pages": self.timeseries_pages,
                "server_errors": self.server_errors}
