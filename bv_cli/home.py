"""Where the CLI keeps Dagster's instance, and the shipped instance settings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bv_resources.settings import bv_home

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DAGSTER_YAML = REPO_ROOT / "instance" / "dagster.yaml"


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default <BV_HOME>/dagster_home), created with the shipped dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or bv_home() / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    target = home / "dagster.yaml"
    if not target.exists() and SHIPPED_DAGSTER_YAML.exists():
        shutil.copyfile(SHIPPED_DAGSTER_YAML, target)
    return home
