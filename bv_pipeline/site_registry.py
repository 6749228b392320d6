"""Which sites Building Vitals should keep: BV_SITES, the sites file and (optionally) ACE.

The sites file (BV_SITES_FILE, default `$BV_HOME/sites.txt`: one name per line or
comma-separated, `#` starts a comment) is read at every call, so a site is added while
Dagster runs, without a restart.
"""

from __future__ import annotations

from pathlib import Path

from bv_config.settings import Settings, parse_sites


def sites_in_file(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
    return parse_sites(",".join(lines))


def wanted_sites(settings: Settings, ace_client=None) -> list[str]:
    """Configured sites, then the sites file, then ACE's collect-enabled sites (with a client)."""
    sites = list(settings.sites) + sites_in_file(Path(settings.sites_file))
    if ace_client is not None:
        sites += parse_sites(",".join(s.get("name", "") for s in ace_client.list_sites(collect_enabled=True)))
    return list(dict.fromkeys(sites))
