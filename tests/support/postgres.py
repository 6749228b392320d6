"""The one PostgreSQL launcher: a real PostgreSQL 15 on loopback from Debian's binaries.

Plain code (no pytest): the suite's fixture and the query benchmark start the same server.
PostgreSQL refuses to run as root, so as root initdb/pg_ctl run as the `postgres` OS user
in a data folder it owns; clients always connect over TCP to 127.0.0.1 with a password.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from support.ports import free_port

PG_BIN = Path(os.environ.get("BV_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "bv"
PG_DB = "bv_test"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or the OS user to run them as root) are missing."""


@dataclass
class PgServer:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    root: Path
    _as_postgres: list[str] = field(default_factory=list, repr=False)

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.dbname)

    def dsn_for(self, dbname: str) -> str:
        return f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={dbname}"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def env(self) -> dict[str, str]:
        """The variables deploy/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.dbname,
        }

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn_for("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def stop(self) -> None:
        _run(self._as_postgres + [str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"],
             check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result



def start_postgres(tmpdir: Path | str | None = None, *, server_options: str = "") -> PgServer:
    """initdb + pg_ctl start in a new folder under `tmpdir` (default: the system temp folder,
    which the `postgres` user can reach when we are root). Creates database `bv_test`."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            raise PostgresUnavailable(f"{PG_BIN / tool} not found: install Debian's `postgresql` (scripts/system_deps.sh)")
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root needs `runuser` to start PostgreSQL as the postgres user")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresUnavailable("running as root, but there is no `postgres` OS user to run the server") from exc
        as_postgres = ["runuser", "-u", "postgres", "--"]

    root = Path(tempfile.mkdtemp(prefix="bv-pg-", dir=tmpdir))
    password = secrets.token_urlsafe(16)
    (root / "pwfile").write_text(password + "\n")
    if as_postgres:
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chown(root / "pwfile", pw.pw_uid, pw.pw_gid)
    try:
        return _init_and_start(root, password, as_postgres, server_options)
    except BaseException:
        _run(as_postgres + [str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(root, ignore_errors=True)
        raise


def _init_and_start(root: Path, password: str, as_postgres: list[str], server_options: str) -> PgServer:
    data = root / "data"
    # Password auth for every connection; the server listens on loopback only.
    _run(as_postgres + [str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_USER, "--pwfile", str(root / "pwfile"),
                        "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8"])
    (root / "pwfile").unlink()
    log = root / "server.log"
    for _ in range(5):  # a free port can be taken between probing and binding: retry
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=off {server_options}"
        result = _run(as_postgres + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log),
                                     "-o", options, "-w", "-t", "60", "start"], check=False)
        if result.returncode == 0:
            server = PgServer("127.0.0.1", port, PG_USER, password, PG_DB, root, as_postgres)
            server.create_database(PG_DB)
            return server
    detail = log.read_text(errors="replace")[-2000:] if log.exists() else result.stderr
    raise RuntimeError(f"PostgreSQL did not start: {detail}")
