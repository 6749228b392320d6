"""Where the CLI keeps Dagster's instance, and the instance settings and workspace shipped
with the package (package data, so `bv ui` works from any directory after `pip install .`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bv_config.settings import bv_home

SHIPPED = Path(__file__).resolve().parent / "shipped"
SHIPPED_DAGSTER_YAML = SHIPPED / "dagster.yaml"
SHIPPED_WORKSPACE = SHIPPED / "workspace.yaml"


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default <BV_HOME>/dagster_home), created with the shipped dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or bv_home() / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(SHIPPED_DAGSTER_YAML, target)
    return home


def dagster_dev_command(python: str, host: str, port: int) -> list[str]:
    return [python, "-m", "dagster", "dev", "-w", str(SHIPPED_WORKSPACE), "-h", host, "-p", str(port)]
