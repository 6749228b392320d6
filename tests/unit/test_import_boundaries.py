"""The library rooms (storage, layout, publish, pipeline steps, settings, query server, query CLI)
know nothing of Dagster: importing them must not load a single `dagster*` module."""

import os
import subprocess
import sys

import pytest


def _imported_modules(statement: str, cwd) -> list[str]:
    """Every module `python -X importtime -c <statement>` loads, in load order."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_"))}
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    names = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


def test_importtime_parsing_sees_dagster_when_it_is_imported(tmp_path):
    # Guards the parser below: if it saw nothing, the boundary tests would pass vacuously.
    names = _imported_modules("import bv_assets.definitions", tmp_path)
    assert "bv_assets.definitions" in names
    assert any(n == "dagster" or n.startswith("dagster.") for n in names)


@pytest.mark.parametrize("statement", [
    "import bv_query.api",
    "import bv_store.storage, bv_store.layout, bv_store.publish, bv_pipeline.archive_build, "
    "bv_pipeline.live_sync, bv_config.settings",
    "import bv_cli.query",
    "import bv_query.health, bv_cli.health, bv_pipeline.point_health, bv_pipeline.health_store",
])
def test_library_rooms_load_no_dagster(statement, tmp_path):
    names = _imported_modules(statement, tmp_path)
    wanted = [m.strip() for m in statement.removeprefix("import ").split(",")]
    assert set(wanted) <= set(names), "importtime output did not list the imported modules"
    assert [n for n in names if n.startswith("dagster")] == []
