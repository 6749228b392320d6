"""The session's PostgreSQL fixture (the server itself is started by support.postgres)."""

from __future__ import annotations

import os

import pytest

from support.postgres import PostgresUnavailable, start_postgres


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL 15 for the session. Missing binaries skip the test, except in CI
    (env CI set), where scripts/system_deps.sh installs them and a skip would hide it."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))
    yield server
    server.stop()
