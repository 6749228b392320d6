"""Every writer killed at every crash point, on a local folder and on the S3 server.

For each (crash point, backend) a child process runs the real writer (bv_pipeline's plain
functions) on a copy of a stored state with BV_CRASH_AT set, and must die there (exit code
and stderr line). Then, on what the crash left:
- every file a reader can see (Storage.list; on a folder also DuckDB's glob over archive/**)
  reads back whole, and each one the writer touches holds either its old or its new content;
  debris (scratch and `.tmp-` names) is neither listed nor read;
- every file the writer does not touch is byte-identical (no stored day lost);
- a query through bv_query answers as before the crash or as after a clean run, never a mix;
- the writer re-run without the hook converges to exactly the content of a clean run (files
  compared on content: timestamps and values; live parts after de-duplication, as readers see
  them), and the query answers as after the clean run.
The scenario (site, days, actions) is in tests/support/crash_runner.py. Budget: ≤ 120 s.
"""

from __future__ import annotations

import io
import shutil
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import boto3
import orjson
import pyarrow.parquet as pq
import pytest
from support.crash_runner import (
    ACTIONS, D1, D2, D3, NOW, POINTS_BY_ACTION, SITE, ace_client, at, build_base, run_action, run_child, sim_site,
)
from support.fixtures_s3 import FAKE_CREDENTIALS
from support.oracles import assert_same_samples

from bv_query import QueryEngine
from bv_sim.clock import SimClock
from bv_sim.server import SimServer
from bv_store.catalog import read_catalog_names
from bv_store.duckdb_conn import duckdb_connect
from bv_store.faults import CRASH_EXIT_CODE, CRASH_POINTS, PUBLISH_STEPS
from bv_store.layout import parse_live_part_key
from bv_store.storage import TEMP_MARK, LocalStorage, Storage

BACKENDS = ("local", "s3")


def _backends_of(point: str) -> tuple[str, ...]:
    """Where a point is tried: every point on the folder; on S3 the points whose S3 state is
    not already produced by another S3 case. The publish steps run the same code for every
    kind of file, so on S3 the archive tries them all, and the other files `put_incomplete`
    (the one step inside the S3 upload). Their `scratch_written`/`verified` leave S3 untouched
    (S3's scratch is a local temp file) and their `published` leaves the state of the writer's
    next point (e.g. `catalog.published` = `catalog.before_version`), tried on S3 as well."""
    kind, step = point.split(".", 1)
    if kind != "archive" and step in ("scratch_written", "verified", "published"):
        return ("local",)
    return BACKENDS


CASES = [
    pytest.param(action, point, backend, id=f"{point}-{backend}")
    for action, points in POINTS_BY_ACTION.items() for point in points for backend in _backends_of(point)
]
# What the summary rows are built from: action -> [(backend, point, seconds to converge)].
VERIFIED: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
_POOL = ThreadPoolExecutor(8, thread_name_prefix="crash-io")  # S3 copies and reads, one object each


def test_every_declared_writer_point_has_a_case():
    """A crash point added to the code without a case here fails this test (health's publish
    steps and `other.*` are generic: the health writer is not in this campaign)."""
    covered = {case.values[1] for case in CASES}
    untested = {p for p in CRASH_POINTS if p.split(".")[0] not in ("health", "other")} - covered
    assert not untested, f"crash points without a crash case: {sorted(untested)}"


# --- the stored states ------------------------------------------------------------------

def _snapshot(storage: Storage) -> dict[str, bytes]:
    """Every data file (site-day lock leases under `locks/` are coordination, not data)."""
    keys = [key for key in storage.list("") if not key.startswith("locks/")]
    return dict(zip(keys, _POOL.map(storage.read_bytes, keys)))


def _engine(storage: Storage) -> QueryEngine:
    """A query engine that caches nothing: files change under it between two of its queries."""
    engine = QueryEngine(storage, listing_ttl_s=0, cache_mb=0)
    engine._con.execute("SET parquet_metadata_cache = false")
    return engine


# The queries each action is checked with (name -> start, end, interval): the days it can
# change, raw, and hourly where the rollup answers (a query costs S3 requests per file).
QUERIES = {
    "catalog": {"raw": (at(D2, 0), at(D3, 0), "raw")},
    "site_day": {"raw": (at(D2, 0), at(D3, 0), "raw"), "1h": (at(D1, 0), at(D3, 0), "1h")},
    "live": {"raw": (at(D3, 0), at(D3, 2), "raw")},
    "rollup": {"1h": (at(D1, 0), at(D3, 0), "1h")},
    "release": {"raw": (at(D1, 0), at(D2, 0), "raw")},
    "retention": {"raw": (at(D1, 0), at(D3, 0), "raw")},
}


def _queries(storage: Storage, action: str, points: list[str], engine: QueryEngine | None = None) -> dict:
    """What a chart sees of the days the action can change."""
    own = engine is None
    engine = engine or _engine(storage)
    try:
        return {name: engine.query(SITE, points, start, end, interval=interval).to_pandas()
                for name, (start, end, interval) in QUERIES[action].items()}
    finally:
        if own:
            engine.close()


class World:
    """One backend: the base state, copies of it, and each action's clean run (cached)."""

    def __init__(self, backend: str, sim: SimServer, token: str, root, s3_endpoint: str | None):
        self.backend, self.sim, self.token, self.root, self.endpoint = backend, sim, token, root, s3_endpoint
        if backend == "s3":
            self.bucket = f"bv-crash-{uuid.uuid4().hex[:10]}"
            self._s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
            self._s3.create_bucket(Bucket=self.bucket)
        self.base = self._storage("base")
        with ace_client(sim.base_url, token) as client:
            build_base(client, self.base, sim.clock)
        self.base_files = _snapshot(self.base)
        self.points = read_catalog_names(self.base, SITE)[:3]
        self._clean: dict[str, tuple[dict, dict, dict]] = {}

    def _storage(self, name: str) -> Storage:
        if self.backend == "local":
            return Storage.from_url(str(self.root / name))
        return Storage.from_url(f"s3://{self.bucket}/{name}", s3_endpoint_url=self.endpoint)

    def copy_of_base(self, name: str) -> Storage:
        if self.backend == "local":
            shutil.copytree(self.base.root, self.root / name)
        else:
            list(_POOL.map(lambda key: self._s3.copy_object(
                Bucket=self.bucket, Key=f"{name}/{key}", CopySource={"Bucket": self.bucket, "Key": f"base/{key}"}),
                self.base_files))
        return self._storage(name)

    def clean(self, action: str) -> tuple[dict, dict, dict]:
        """(files, queries) after the action ran once, undisturbed, on a copy of the base; and
        the same queries on the base."""
        if action not in self._clean:
            store = self.copy_of_base(f"clean-{action}")
            with ace_client(self.sim.base_url, self.token) as client:
                run_action(action, client, store)
            self._clean[action] = (_snapshot(store), _queries(store, action, self.points),
                                   _queries(self.base, action, self.points))
        return self._clean[action]


@pytest.fixture(scope="module")
def crash_sim(sim_token):
    srv = SimServer(host="127.0.0.1", port=0, token=sim_token, sites=[sim_site()],
                    clock=SimClock(fixed=NOW)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def worlds(crash_sim, sim_token, s3_server, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for name, value in FAKE_CREDENTIALS.items():
            mp.setenv(name, value)
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.delenv("BV_CRASH_AT", raising=False)
        made: dict[str, World] = {}

        def get(backend: str) -> World:
            if backend not in made:
                made[backend] = World(backend, crash_sim, sim_token, tmp_path_factory.mktemp(f"crash-{backend}"),
                                      s3_server if backend == "s3" else None)
            return made[backend]

        yield get


# --- what a reader sees -----------------------------------------------------------------

def _whole(key: str, data: bytes):
    """The file's content, read back completely (raises on a torn or partial file)."""
    if key.endswith(".parquet"):
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        table = pq.read_table(io.BytesIO(data))
        assert table.num_rows == meta.num_rows, f"{key}: {table.num_rows} rows read, footer says {meta.num_rows}"
        return table
    if key.endswith(".json"):
        return orjson.loads(data)
    raise AssertionError(f"unexpected file {key}")


def _same_content(key: str, a: bytes, b: bytes) -> bool:
    if a == b:
        return True
    left, right = _whole(key, a), _whole(key, b)
    return left.equals(right, check_metadata=True) if key.endswith(".parquet") else left == right


def _live_rows(files: dict[str, bytes], day: date) -> dict:
    """(point, µs) -> value of a day's live parts as readers take them (the newest file wins)."""
    rows = {}
    for key in sorted(k for k in files if (p := parse_live_part_key(k)) and p.day == day):
        table = _whole(key, files[key])
        for point, ts, value in zip(table.column("point").to_pylist(), table.column("ts").to_pylist(),
                                    table.column("value").to_pylist()):
            rows[(str(point), ts)] = value
    return rows


def _live_days(*snapshots) -> set[date]:
    return {p.day for files in snapshots for k in files if (p := parse_live_part_key(k))}


def _same_query(got: dict, want: dict) -> bool:
    try:
        for name in want:
            assert_same_samples(got[name], want[name], label=name)
    except AssertionError:
        return False
    return True


def _assert_debris_invisible(store: Storage, files: dict[str, bytes]) -> int:
    """On a folder: every file not listed is a scratch or `.tmp-` name, and DuckDB's glob over
    the archive (how outside engines read it) finds only listed files. Returns the debris count."""
    if not isinstance(store, LocalStorage):
        return 0
    on_disk = {p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file()}
    debris = on_disk - set(files)
    assert all(TEMP_MARK in d.rsplit("/", 1)[-1] or d.startswith(".scratch/") for d in debris), sorted(debris)
    assert not any(TEMP_MARK in k or k.startswith(".scratch") for k in files)
    with duckdb_connect(store) as con:
        globbed = {r[0] for r in con.execute(
            "SELECT DISTINCT filename FROM read_parquet(?, filename=true)", [str(store.root / "archive/**/*.parquet")]
        ).fetchall()}
    assert globbed == {store.uri(k) for k in files if k.startswith("archive/")}
    return len(debris)


def _assert_converged(files: dict, clean: dict, label: str) -> None:
    """Same files as the clean run, same content; live parts compared as readers see them."""
    plain = lambda fs: {k for k in fs if not parse_live_part_key(k)}  # noqa: E731
    assert plain(files) == plain(clean), f"{label}: files differ from a clean run: {plain(files) ^ plain(clean)}"
    for key in plain(clean):
        assert _same_content(key, files[key], clean[key]), f"{label}: {key} differs from a clean run"
    for day in _live_days(files, clean):
        assert _live_rows(files, day) == _live_rows(clean, day), f"{label}: live samples of {day} differ"


# --- the cases --------------------------------------------------------------------------

@pytest.mark.parametrize("action,point,backend", CASES)
def test_crash_point(worlds, backend, action, point, tmp_path):
    world = worlds(backend)
    clean_files, clean_queries, base_queries = world.clean(action)
    base = world.base_files
    store = world.copy_of_base(f"case-{uuid.uuid4().hex[:8]}")
    label = f"{point} on {backend}"

    err = tmp_path / "child.stderr"
    env = dict(FAKE_CREDENTIALS) if backend == "s3" else {}
    code = run_child(action, point, store, world.sim.base_url, world.token, str(err), env)
    stderr = err.read_text()
    assert code == CRASH_EXIT_CODE, f"{label}: the child exited {code}, not at the crash point:\n{stderr[-3000:]}"
    assert f"bv crash point {point}: exiting with code {CRASH_EXIT_CODE}" in stderr, stderr[-2000:]

    crashed = _snapshot(store)
    for key, data in crashed.items():
        _whole(key, data)  # nothing torn or partial is visible
    debris = _assert_debris_invisible(store, crashed)
    if backend == "local" and point.endswith(".put_incomplete"):
        assert debris >= 1, f"{label}: the crash left no .tmp- file: the point was not between copy and rename"

    touched = ACTIONS[action][1]
    for key, data in base.items():
        if not any(key.startswith(p) for p in touched):
            assert crashed.get(key) == data, f"{label}: {key}, which the writer does not touch, changed or vanished"
    for key in {k for k in (*base, *crashed) if not parse_live_part_key(k)}:
        if not any(key.startswith(p) for p in touched):
            continue
        old, new, now = base.get(key), clean_files.get(key), crashed.get(key)
        if now is None:
            assert new is None, f"{label}: {key} vanished although a clean run keeps it"
        else:
            assert (old is not None and _same_content(key, now, old)) or (
                new is not None and _same_content(key, now, new)
            ), f"{label}: {key} holds neither its old nor its new content"
    for day in _live_days(crashed) - {D1}:  # D1 is archived: readers never read its live files
        assert _live_rows(crashed, day) in (_live_rows(base, day), _live_rows(clean_files, day)), (
            f"{label}: the live samples of {day} are neither the old nor the new ones"
        )

    engine = _engine(store)
    answered = _queries(store, action, world.points, engine)
    assert _same_query(answered, base_queries) or _same_query(answered, clean_queries), (
        f"{label}: a query after the crash answers neither as before nor as after a clean run"
    )

    started = time.monotonic()
    with ace_client(world.sim.base_url, world.token) as client:
        run_action(action, client, store)
    rerun_s = time.monotonic() - started
    after = _snapshot(store)
    _assert_converged(after, clean_files, label)
    for name, frame in _queries(store, action, world.points, engine).items():
        assert_same_samples(frame, clean_queries[name], label=f"{label}: {name} query after the re-run")
    engine.close()
    VERIFIED[action].append((backend, point, rerun_s))


def test_the_checks_can_fail(worlds):
    """Controls for the checks above: a torn file is caught, a file with a third content is
    caught, and where an action changes what a chart sees, "as before" and "as after a clean
    run" are different answers (so a mixed answer could not pass as either)."""
    world = worlds("local")
    key = next(k for k in world.base_files if k.startswith("archive/"))
    data = world.base_files[key]
    with pytest.raises(Exception):
        _whole(key, data[: len(data) // 2])
    other = next(k for k in world.base_files if k.startswith("archive/") and k != key)
    assert not _same_content(key, data, world.base_files[other])
    # (A rollup rebuild changes which file answers, never the answer: not in this list.)
    for action in ("site_day", "live"):
        _, clean_queries, base_queries = world.clean(action)
        assert not _same_query(clean_queries, base_queries), f"{action}: the query check cannot tell old from new"


WRITER_NAMES = {
    "catalog": "catalog refresh (ace_points: current catalog, then its version file)",
    "site_day": "raw ingest and archive build of a site-day (late data replacing a half day)",
    "live": "live sync tick (part, compaction of 13 parts, cursor)",
    "rollup": "hourly rollup rebuild (stale month)",
    "release": "live release of a closed day",
    "retention": "raw retention",
}


def test_crash_summary(reliability):
    """One reliability row per writer, only when every case of that writer passed on both
    backends in this session (runs after the cases: pytest keeps file order)."""
    complete = 0
    for action, points in POINTS_BY_ACTION.items():
        done = VERIFIED.get(action, [])
        if {(b, p) for b, p, _ in done} != {(b, p) for p in points for b in _backends_of(p)}:
            continue
        complete += 1
        slowest = max(s for *_, s in done)
        publish_steps = sorted({p.split(".", 1)[1] for p in points if p.split(".", 1)[1] in PUBLISH_STEPS})
        reliability.record(
            fault=f"process killed (os._exit) at each of the {len(points)} crash point(s) of the {WRITER_NAMES[action]}"
                  + (f"; publish steps {', '.join(publish_steps)}" if publish_steps else ""),
            component="writers killed at a crash point (local folder and S3)",
            system_did=f"{len(done)} child processes died at their point (exit {CRASH_EXIT_CODE}); every visible file read back whole "
                       f"with its old or new content; queries answered as before or as after a clean run; the re-run "
                       f"converged to the clean run's content (slowest re-run {slowest:.2f} s)",
            lost="nothing: files the writer does not touch byte-identical, no sample lost or doubled",
        )
    if complete == 0:
        pytest.skip("no writer had all its crash cases run in this session (selected with -k?)")
