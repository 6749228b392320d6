"""Schema-driven fuzz of the HTTP API with an outside tool: schemathesis reads `/openapi.json` from
a real uvicorn serving `create_app` (what `bv serve` runs) over the synthetic site, generates
requests for every operation from the document (valid ones, ones pinned to the stored site so the
happy paths are reached, and invalid ones), and checks every answer: no 5xx, a status code the
document declares, the declared content type, and a body that matches the declared schema.

Twice: the open API (no BV_API_KEYS), and with BV_API_KEYS set, sending no key, a wrong key, a
key scoped to another site, or a key for every site, so the 401 and 403 paths are fuzzed too.
Bounded: a fixed number of examples per operation, no shrinking, and a time budget asserted."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.fixtures_query import SYN_POINTS, SYN_SITE, build_synthetic_site, serve_app

from bv_query import QueryEngine
from bv_query.api import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 100
BUDGET_S = 60  # for both runs together, well inside the suite's bounds

KEY_ALL = "fuzz-all-0123456789abcdef"
KEY_SYN = "fuzz-syn-0123456789abcdef"
KEY_OTHER = "fuzz-other-0123456789abcdef"
AUTH_HEADERS = [  # hypothesis draws the first ones most: the keys that get past auth first
    {"Authorization": f"Bearer {KEY_SYN}"},  # the stored site only
    {"Authorization": f"Bearer {KEY_ALL}"},
    {"Authorization": f"Bearer {KEY_OTHER}"},  # 403 on the stored site
    None,  # 401: no key
    {"Authorization": "Bearer not-a-key-0000000000000"},  # 401: wrong key
    {"Authorization": "Basic Zm9vOmJhcg=="},  # 401: not a bearer
]

_spent = {"s": 0.0}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from bv_store.storage import Storage

    storage = Storage.from_url(str(tmp_path_factory.mktemp("fuzz_store")))
    build_synthetic_site(storage)
    return storage


@pytest.fixture(scope="module")
def open_url(store):
    with serve_app(create_app(QueryEngine(store), api_keys="", cors_origins="")) as url:
        yield url


@pytest.fixture(scope="module")
def keyed_url(store):
    keys = f"{KEY_ALL},{KEY_SYN}:{SYN_SITE},{KEY_OTHER}:other_site"
    with serve_app(create_app(QueryEngine(store), api_keys=keys, cors_origins="")) as url:
        yield url


def _pinned(operation) -> dict:
    """Overrides that reach the stored site's data instead of an unknown site's 404."""
    names = {p.name for p in operation.iter_parameters()}
    out = {}
    if "site" in names:
        out["path_parameters"] = {"site": SYN_SITE}
    if "site_name" in names:
        out["query"] = {"site_name": SYN_SITE, "point_names": SYN_POINTS[0],
                        "start_time": "2025-03-09T00:00:00Z", "end_time": "2025-03-10T00:00:00Z"}
    return out


def _strategy(operation):
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    pinned = _pinned(operation)
    if pinned:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, **pinned))
    return st.one_of(strategies)


def _fuzz(base_url: str, headers_choices: list[dict | None]) -> tuple[list[str], dict[str, Counter]]:
    """Run every operation of the served document: (one entry per failing operation, the status
    codes seen per operation)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/health", "/sites", "/sites/{site}/points", "/timeseries/query"}
    failures: list[str] = []
    seen: dict[str, Counter] = {}
    session_headers = st.sampled_from(headers_choices)
    started = time.monotonic()
    for operation in operations:
        statuses = seen.setdefault(operation.path, Counter())

        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the time stays bounded
            suppress_health_check=list(HealthCheck),
        )
        @given(case=_strategy(operation), headers=session_headers)
        def run(case, headers):
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)
            statuses[response.status_code] += 1

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' failure groups carry the reproducing curl
            failures.append(f"{operation.label}: {exc}")
    _spent["s"] += time.monotonic() - started
    return failures, seen


def test_open_api_survives_schema_driven_fuzzing(open_url):
    failures, seen = _fuzz(open_url, [None])
    assert not failures, "\n\n".join(failures)
    print({path: dict(statuses) for path, statuses in seen.items()})
    # The fuzz reached the answers, not only the rejections: data from the stored site and 4xx.
    for path in ("/sites/{site}/points", "/timeseries/query"):
        assert seen[path][200] > 0 and seen[path][400] + seen[path][404] > 0, (path, seen[path])


def test_keyed_api_survives_schema_driven_fuzzing(keyed_url, reliability):
    failures, seen = _fuzz(keyed_url, AUTH_HEADERS)
    assert not failures, "\n\n".join(failures)
    print({path: dict(statuses) for path, statuses in seen.items()})
    for path in ("/sites", "/sites/{site}/points", "/timeseries/query"):
        assert seen[path][401] > 0 and seen[path][200] > 0, (path, seen[path])
    assert seen["/sites/{site}/points"][403] > 0 and seen["/timeseries/query"][403] > 0
    assert _spent["s"] < BUDGET_S, f"fuzzing took {_spent['s']:.0f} s (budget {BUDGET_S} s)"
    calls = sum(sum(statuses.values()) for statuses in seen.values())
    reliability.record(
        fault="schemathesis fuzz of every operation in /openapi.json, with and without keys",
        component="query API",
        system_did=f"{calls} keyed requests: 0 server errors, every answer matches the schema",
        lost="nothing",
    )


def test_document_describes_every_parameter_and_error_shape(open_url):
    doc = httpx.get(f"{open_url}/openapi.json", timeout=10).json()
    error_ref = None
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            for parameter in op.get("parameters", []):
                assert parameter.get("description", "").strip(), f"{method.upper()} {path}: {parameter['name']} has no description"
            if path == "/health":
                continue
            for status in ("400", "401", "403", "404"):
                assert status in op["responses"], f"{method.upper()} {path} does not document {status}"
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                error_ref = error_ref or schema
                assert schema == error_ref, f"{method.upper()} {path} {status}: not the shared error shape"
            assert "422" not in op["responses"], f"{method.upper()} {path} documents a 422 it never sends"
    name = error_ref["$ref"].rsplit("/", 1)[-1]
    error = doc["components"]["schemas"][name]
    assert error["required"] == ["error"] and set(error["properties"]) == {"error", "parameter"}


def test_every_declared_error_is_sent_in_the_declared_shape(keyed_url):
    """The shapes the fuzz validates against are real: one request per documented error."""
    bearer = lambda key: {"Authorization": f"Bearer {key}"}  # noqa: E731
    cases = [
        ("/sites", {}, None, 401),
        (f"/sites/{SYN_SITE}/points", {}, bearer(KEY_OTHER), 403),
        (f"/sites/{SYN_SITE}/points", {"limit": "many"}, bearer(KEY_ALL), 400),
        ("/sites/nowhere/points", {}, bearer(KEY_ALL), 404),
        ("/timeseries/query", {"site_name": SYN_SITE, "point_names": SYN_POINTS[0]}, bearer(KEY_OTHER), 403),
    ]
    with httpx.Client(base_url=keyed_url, timeout=30) as client:
        for path, params, headers, status in cases:
            r = client.get(path, params=params, headers=headers)
            assert r.status_code == status, (path, r.status_code, r.text)
            body = r.json()
            assert isinstance(body["error"], str) and set(body) <= {"error", "parameter"}
            if status == 400:
                assert body["parameter"] == "limit"
            if status == 401:
                assert r.headers["www-authenticate"] == "Bearer"
