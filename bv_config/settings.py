"""Every setting of Building Vitals in one object, with where each value came from.

Sources, strongest first: the environment, then an optional TOML file (`BV_CONFIG_FILE`,
default `$BV_HOME/config.toml` when it exists; keys are the variable names), then the
defaults below, which run the embedded demo (local simulator, local storage folder).
Nothing here runs at import time: callers build `Settings.load()` (or pass values
explicitly, as the tests do).

Secrets (`ACE_API_KEY`, `BV_API_KEYS`, `AWS_*`) are read from the environment only — a
config file that names one is refused — and are masked wherever settings are shown.
The Dagster resources take the ACE key through `EnvVar` so the UI never displays it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from bv_store.layout import validate_site_name

DEFAULT_SIM_PORT = 8765
DEFAULT_ACE_API_BASE = f"http://127.0.0.1:{DEFAULT_SIM_PORT}/api"
DEFAULT_SITES = ("demo_office", "demo_school")
DEFAULT_START_DATE = "2025-01-01"

DEFAULT, ENVIRONMENT, FILE = "default", "environment", "file"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def parse_sites(raw: str | None) -> list[str]:
    names = [s.strip() for s in (raw or "").split(",") if s.strip()]
    seen: list[str] = []
    for name in names:
        validate_site_name(name)
        if name not in seen:
            seen.append(name)
    return seen


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in raw.split(",") if s.strip())


def _bool(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _optional_int(raw: str) -> int | None:
    return int(raw) if raw.strip() else None


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _setting(env: str, parse, doc: str, *, secret: bool = False, default_doc: str | None = None):
    """A dataclass field that knows its variable, parser and meaning."""
    # Secrets stay out of repr(), so a log line or a traceback never shows them.
    return field(repr=not secret,
                 metadata={"env": env, "parse": parse, "doc": doc, "secret": secret, "default_doc": default_doc})


@dataclass(frozen=True)
class Settings:
    # ACE and sites
    ace_api_base: str = _setting("ACE_API_BASE", lambda s: s.strip().rstrip("/"), "FlightDeck base URL")
    sites: tuple[str, ...] = _setting("BV_SITES", lambda s: tuple(parse_sites(s)), "comma-separated site names")
    sites_file: str = _setting("BV_SITES_FILE", str, "more sites, one per line, read at every sensor tick",
                               default_doc="$BV_HOME/sites.txt")
    sites_from_ace: bool = _setting("BV_SITES_FROM_ACE", _bool, "also register every collect-enabled site ACE lists")
    # storage and partitions
    home: str = _setting("BV_HOME", str, "data folder: storage, Dagster home, demo state", default_doc="./.bv")
    storage_url: str = _setting("BV_STORAGE_URL", str, "/path, file:///path or s3://bucket/prefix",
                                default_doc="$BV_HOME/storage")
    s3_endpoint_url: str | None = _setting("BV_S3_ENDPOINT_URL", _optional_text, "S3-compatible endpoint (R2, MinIO)")
    start_date: str = _setting("BV_START_DATE", str, "first daily partition (YYYY-MM-DD)")
    # pipeline behaviour
    coverage_warn_ratio: float = _setting("BV_COVERAGE_WARN_RATIO", float, "coverage check warns below this share")
    min_points_seen: float = _setting("BV_MIN_POINTS_SEEN", float, "blocking floor: share of catalog points with a sample")
    max_shrink_ratio: float = _setting("BV_MAX_SHRINK_RATIO", float, "largest share a re-run may lose (0..1)")
    step_retries: int = _setting("BV_STEP_RETRIES", int, "Dagster retries of an ACE step after the client's own")
    step_retry_delay_s: float = _setting("BV_STEP_RETRY_DELAY_S", float, "first delay of those retries (s)")
    day_close_grace_minutes: int = _setting("BV_DAY_CLOSE_GRACE_MINUTES", int, "minutes after 00:00 UTC before day close")
    late_data_days: int = _setting("BV_LATE_DATA_DAYS", int, "days before yesterday re-archived daily")
    raw_retention_days: int | None = _setting("BV_RAW_RETENTION_DAYS", _optional_int, "raw files kept this many days")
    live_overlap_minutes: float = _setting("BV_LIVE_OVERLAP_MINUTES", float, "each live tick re-asks this much")
    freshness_minutes: float = _setting("BV_FRESHNESS_MINUTES", float, "live_is_fresh fails past this age")
    alert_webhook_url: str | None = _setting("BV_ALERT_WEBHOOK_URL", _optional_text, "failed runs are POSTed here",
                                             secret=True)
    # point health
    health_stale_hours: float = _setting("BV_HEALTH_STALE_HOURS", float,
                                         "point_health: no sample for this many hours is stale")
    health_flatline_hours: float = _setting("BV_HEALTH_FLATLINE_HOURS", float,
                                            "point_health: an analog value unchanged this many hours is a flatline")
    health_spike_z: float = _setting("BV_HEALTH_SPIKE_Z", float,
                                     "point_health: robust z-score of a jump that makes a spike")
    health_dead_warn_ratio: float = _setting("BV_HEALTH_DEAD_WARN_RATIO", float,
                                             "point_health check warns above this share of dead points")
    # query server
    query_max_points: int = _setting("BV_QUERY_MAX_POINTS", int, "most points in one query")
    query_max_days: int = _setting("BV_QUERY_MAX_DAYS", int, "longest query range in days")
    query_cache_mb: float = _setting("BV_QUERY_CACHE_MB", float, "decoded row-group cache per process (MB)")
    query_threads: int = _setting("BV_QUERY_THREADS", int, "DuckDB threads per query (0: DuckDB's default)")
    query_memory_mb: float = _setting("BV_QUERY_MEMORY_MB", float,
                                      "DuckDB memory limit per query process (MB; it spills past it; 0: DuckDB's default)")
    cors_origins: tuple[str, ...] = _setting("BV_CORS_ORIGINS", _csv, "allowed browser origins")
    api_keys: str = _setting("BV_API_KEYS", str, "query API keys (key or key:siteA|siteB, comma-separated)",
                             secret=True)
    # where each value came from: field name -> default / environment / file
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, *, config_file: str | Path | None = None) -> "Settings":
        """Settings from `env` (default: the process environment) and the config file."""
        env = os.environ if env is None else env
        home = bv_home(env)
        path = Path(config_file or env.get("BV_CONFIG_FILE") or home / "config.toml")
        from_file = _read_config_file(path) if (config_file or env.get("BV_CONFIG_FILE") or path.is_file()) else {}
        defaults = _defaults(home)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for f in fields(cls):
            if f.name == "sources":
                continue
            var = f.metadata["env"]
            if var in env and (env[var] != "" or f.name in ("api_keys", "cors_origins")):
                raw, sources[f.name] = env[var], ENVIRONMENT
            elif var in from_file:
                raw, sources[f.name] = from_file[var], FILE
            else:
                values[f.name], sources[f.name] = defaults[f.name], DEFAULT
                continue
            try:
                values[f.name] = f.metadata["parse"](str(raw))
            except ValueError as exc:
                raise SettingsError(f"{var}={'***' if f.metadata['secret'] else repr(raw)}: {exc}") from None
        values["home"] = str(home)
        settings = cls(**values, sources=sources)
        settings.validate()
        return settings

    # Kept for the callers that read "the environment" by name.
    from_env = load

    def validate(self) -> None:
        try:
            date.fromisoformat(self.start_date)
        except ValueError:
            raise SettingsError(f"BV_START_DATE={self.start_date!r} is not a YYYY-MM-DD date") from None
        if not self.sites:
            raise SettingsError("BV_SITES is set but names no site")
        if not 0 <= self.min_points_seen <= 1:
            raise SettingsError(f"BV_MIN_POINTS_SEEN={self.min_points_seen} is not between 0 and 1")
        if not 0 <= self.max_shrink_ratio <= 1:
            raise SettingsError(f"BV_MAX_SHRINK_RATIO={self.max_shrink_ratio} is not between 0 and 1")
        if self.raw_retention_days is not None and self.raw_retention_days < 1:
            raise SettingsError(f"BV_RAW_RETENTION_DAYS={self.raw_retention_days} must be a positive number of days")
        if not 0 <= self.day_close_grace_minutes < 24 * 60:
            raise SettingsError(f"BV_DAY_CLOSE_GRACE_MINUTES={self.day_close_grace_minutes} must be within a day")
        for name in ("health_stale_hours", "health_flatline_hours"):
            if not 0 < getattr(self, name) <= 24:
                raise SettingsError(f"{self.variable(name)}={getattr(self, name)} must be more than 0 and at most 24 hours")
        if not self.health_spike_z > 0:
            raise SettingsError(f"BV_HEALTH_SPIKE_Z={self.health_spike_z} must be positive")
        if not 0 <= self.health_dead_warn_ratio <= 1:
            raise SettingsError(f"BV_HEALTH_DEAD_WARN_RATIO={self.health_dead_warn_ratio} is not between 0 and 1")
        for name in ("step_retries", "late_data_days", "query_max_points", "query_max_days", "query_threads",
                     "query_memory_mb"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{self.variable(name)}={getattr(self, name)} must not be negative")

    @staticmethod
    def variable(name: str) -> str:
        return next(f.metadata["env"] for f in fields(Settings) if f.name == name)

    def describe(self) -> list[dict]:
        """One row per setting: variable, value (secrets masked), source, meaning."""
        rows = []
        for f in fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.metadata["secret"]:
                shown = "***" if value else "(unset)"
            elif isinstance(value, tuple):
                shown = ",".join(value)
            else:
                shown = "(unset)" if value is None else str(value)
            rows.append({"variable": f.metadata["env"], "value": shown,
                         "source": self.sources.get(f.name, DEFAULT), "meaning": f.metadata["doc"]})
        return rows


def _defaults(home: Path) -> dict[str, Any]:
    return {
        "ace_api_base": DEFAULT_ACE_API_BASE,
        "sites": DEFAULT_SITES,
        "sites_file": str(home / "sites.txt"),
        "sites_from_ace": False,
        "home": str(home),
        "storage_url": str(home / "storage"),
        "s3_endpoint_url": None,
        "start_date": DEFAULT_START_DATE,
        "coverage_warn_ratio": 0.8,
        "min_points_seen": 0.5,
        "max_shrink_ratio": 0.05,
        "step_retries": 2,
        "step_retry_delay_s": 60.0,
        "day_close_grace_minutes": 30,
        "late_data_days": 2,
        "raw_retention_days": None,
        "live_overlap_minutes": 10.0,
        "freshness_minutes": 15.0,
        "alert_webhook_url": None,
        "health_stale_hours": 6.0,
        "health_flatline_hours": 6.0,
        "health_spike_z": 8.0,
        "health_dead_warn_ratio": 0.1,
        "query_max_points": 100,
        "query_max_days": 365,
        "query_cache_mb": 256.0,
        "query_threads": 0,
        "query_memory_mb": 1024.0,
        "cors_origins": (),
        "api_keys": "",
    }


SECRET_VARIABLES = frozenset({"ACE_API_KEY", "BV_API_KEYS", "BV_ALERT_WEBHOOK_URL"})


def _read_config_file(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"config file {path} (BV_CONFIG_FILE) does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    known = {f.metadata["env"] for f in fields(Settings) if f.name != "sources"}
    out = {}
    for key, value in data.items():
        if key in SECRET_VARIABLES or key.startswith("AWS_"):
            raise SettingsError(f"config file {path} sets {key}: secrets come from the environment only")
        if key in ("BV_HOME", "BV_CONFIG_FILE"):
            raise SettingsError(f"config file {path} sets {key}: it locates the config file, so it comes from the environment")
        if key not in known:
            raise SettingsError(f"config file {path}: unknown setting {key} (known: {', '.join(sorted(known))})")
        out[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value).lower() if isinstance(value, bool) else str(value)
    return out


def bv_home(env: Mapping[str, str] | None = None) -> Path:
    """The project's data folder (BV_HOME, default ./.bv): storage, Dagster home, demo state."""
    env = os.environ if env is None else env
    return Path(env.get("BV_HOME") or Path.cwd() / ".bv").resolve()
