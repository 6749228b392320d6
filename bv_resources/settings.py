"""Configuration from the environment (the public contract in DESIGN.md).

Defaults run the embedded demo: the local simulator and a local storage folder.
Secrets (ACE_API_KEY, AWS_*) are never read here into anything that is logged or shown;
the Dagster resources take the key through `EnvVar` so the UI never displays it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_SIM_PORT = 8765
DEFAULT_ACE_API_BASE = f"http://127.0.0.1:{DEFAULT_SIM_PORT}/api"
DEFAULT_SITES = ("demo_office", "demo_school")
DEFAULT_START_DATE = "2025-01-01"

# Site names become a hive path segment (`site=<name>`): keep them to a safe alphabet.
SITE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def bv_home() -> Path:
    """The project's data dir: storage, Dagster home and demo state live under it."""
    return Path(os.environ.get("BV_HOME", Path.cwd() / ".bv")).resolve()


def validate_site_name(site: str) -> str:
    if not SITE_NAME_RE.match(site or ""):
        raise ValueError(
            f"invalid site name {site!r}: use letters, digits, '_', '.', '-' "
            "(it becomes the archive folder 'site=<name>')"
        )
    return site


def parse_sites(raw: str | None) -> list[str]:
    names = [s.strip() for s in (raw or "").split(",") if s.strip()]
    seen: list[str] = []
    for name in names:
        validate_site_name(name)
        if name not in seen:
            seen.append(name)
    return seen


@dataclass(frozen=True)
class Settings:
    ace_api_base: str
    sites: list[str]
    storage_url: str
    s3_endpoint_url: str | None
    start_date: str
    coverage_warn_ratio: float

    @classmethod
    def from_env(cls) -> "Settings":
        start = os.environ.get("BV_START_DATE", DEFAULT_START_DATE)
        try:
            date.fromisoformat(start)
        except ValueError as exc:
            raise ValueError(f"BV_START_DATE={start!r} is not a YYYY-MM-DD date") from exc
        sites = parse_sites(os.environ.get("BV_SITES", ",".join(DEFAULT_SITES)))
        if not sites:
            raise ValueError("BV_SITES is set but names no site")
        return cls(
            ace_api_base=os.environ.get("ACE_API_BASE", DEFAULT_ACE_API_BASE).rstrip("/"),
            sites=sites,
            storage_url=os.environ.get("BV_STORAGE_URL") or str(bv_home() / "storage"),
            s3_endpoint_url=os.environ.get("BV_S3_ENDPOINT_URL") or None,
            start_date=start,
            coverage_warn_ratio=float(os.environ.get("BV_COVERAGE_WARN_RATIO", "0.8")),
        )
