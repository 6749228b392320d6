"""Secrets, everywhere: a real pipeline flow on a DAGSTER_HOME instance (the `bv` CLI as an
operator runs it), a real `bv serve`, and the run-failure reporter, each given distinctive secrets
(an ACE token, API keys, a webhook URL with a token in it) — then every byte they left behind is
searched: the instance folder (SQLite databases and their WAL files, compute logs, run config and
tags), the storage folder, the CLI's stdout and stderr, the API's answers and its server log, and
the webhook payloads. Plus: an API key scoped to one site sees only that site on every endpoint.
(Over 400 lines on purpose: one flow feeds every scan; splitting would run it twice.)
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import httpx
import pytest
from support.fixtures_pipeline import TEST_DAY
from support.ports import free_port

from bv_assets.alerts.defs import AlertWebhookResource, run_failure_reporter
from bv_sim.faults import FaultConfig
from bv_sim.server import SimServer

REPO = Path(__file__).resolve().parents[2]
OFFICE, SCHOOL = "demo_office", "demo_school"

# Distinctive values: a hit can only be a leak, never a coincidence.
ACE_TOKEN = f"aceTOKEN{secrets.token_hex(16)}"
KEY_ALL = f"bvKEYall{secrets.token_hex(16)}"
KEY_OFFICE = f"bvKEYoffice{secrets.token_hex(16)}"
HOOK_SECRET = f"hookSECRET{secrets.token_hex(16)}"
SECRETS = {"ACE token": ACE_TOKEN, "API key (all sites)": KEY_ALL, "API key (one site)": KEY_OFFICE,
           "webhook token": HOOK_SECRET}


def needles() -> dict[str, bytes]:
    """Each secret, and its first and last 16 characters (a cut secret is still a leak)."""
    out = {}
    for label, value in SECRETS.items():
        out[label] = value.encode()
        out[f"{label} (start)"] = value[:16].encode()
        out[f"{label} (end)"] = value[-16:].encode()
    return out


def leaks_in_text(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [label for label, needle in needles().items() if needle in data]


def leaks_in_tree(root: Path) -> dict[str, list[str]]:
    """file -> the secrets found in its bytes, for every file under root."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hits = leaks_in_text(path.read_bytes())
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


# ---------------------------------------------------------------- helpers that run things for real


class Webhook:
    """A Slack-style webhook receiver on loopback that records what is POSTed to it."""

    def __init__(self, status: int = 200):
        self.status, self.posts = status, []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.posts.append({"path": self.path, "body": body})
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0001/B0001/{HOOK_SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class EchoingAce:
    """A hostile ACE: every request is refused with the presented token echoed back in the body
    (JSON for one status, HTML for another), as a badly written gateway might."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                auth = self.headers.get("Authorization", "")
                if "gateways" in self.path or "points" in self.path:
                    body, kind, status = json.dumps({"msg": f"token rejected: {auth}"}).encode(), "application/json", 403
                else:
                    body, kind, status = f"<html><body>502 upstream said {auth}</body></html>".encode(), "text/html", 502
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_bv(args, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bv_cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """The operator's flow, once for the module: config, materialize, sync, verify, status, then
    the same with ACE rejecting the token, then against an ACE that echoes the token back. Yields
    (env, [(command, CompletedProcess)], webhook)."""
    tmp = tmp_path_factory.mktemp("secrets_flow")
    sim = SimServer(host="127.0.0.1", port=0, token=ACE_TOKEN).start()
    hostile = EchoingAce()
    webhook = Webhook()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_", "AWS_"))}
    env.update(
        ACE_API_BASE=sim.base_url, ACE_API_KEY=ACE_TOKEN, BV_SITES=f"{OFFICE},{SCHOOL}",
        BV_STORAGE_URL=str(tmp / "storage"), DAGSTER_HOME=str(tmp / "dagster_home"), BV_HOME=str(tmp / "bv_home"),
        BV_API_KEYS=f"{KEY_ALL},{KEY_OFFICE}:{OFFICE}", BV_ALERT_WEBHOOK_URL=webhook.url, BV_STEP_RETRIES="0",
    )
    day, next_day = TEST_DAY.isoformat(), (TEST_DAY + timedelta(days=1)).isoformat()
    runs = []

    def bv(*args, env=env):
        proc = run_bv(list(args), env)
        runs.append((" ".join(args), proc))
        return proc

    try:
        for args in (["config"], ["config", "--json"]):
            assert bv(*args).returncode == 0, runs[-1][1].stderr
        proc = bv("-v", "materialize", "--sites", f"{OFFICE},{SCHOOL}", "--start", day)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert bv("-v", "sync", "--sites", OFFICE).returncode == 0, runs[-1][1].stdout + runs[-1][1].stderr
        assert bv("verify", "--sites", OFFICE, "--start", day).returncode == 0, runs[-1][1].stdout + runs[-1][1].stderr
        assert bv("status").returncode == 0
        sim.set_faults(FaultConfig(reject_token=True))
        proc = bv("-v", "materialize", "--sites", OFFICE, "--start", next_day)
        assert proc.returncode == 1 and "rejected the API token" in proc.stdout + proc.stderr
        assert bv("-v", "sync", "--sites", OFFICE).returncode == 1
        sim.set_faults(None)
        proc = bv("-v", "materialize", "--sites", SCHOOL, "--start", next_day, env={**env, "ACE_API_BASE": hostile.base_url})
        assert proc.returncode != 0
        yield env, runs, webhook
    finally:
        sim.stop()
        hostile.close()
        webhook.close()


def test_the_flow_really_ran_and_the_scan_reads_what_it_left(flow):
    """The scan below is not vacuous: the instance holds the runs (partition keys readable in
    its bytes), the storage holds the archives, and the CLI printed its outcomes."""
    env, runs, _ = flow
    home, storage = Path(env["DAGSTER_HOME"]), Path(env["BV_STORAGE_URL"])
    assert any(p.suffix == ".db" for p in home.rglob("*")), sorted(home.rglob("*"))
    assert any(f"{TEST_DAY.isoformat()}|{OFFICE}".encode() in p.read_bytes() for p in home.rglob("*.db"))
    assert [p for p in home.rglob("compute_logs/*") if p.stat().st_size], "no compute log captured"
    assert list(storage.rglob("data.parquet")), "no archive written"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records()
        statuses = {r.dagster_run.status for r in records}
        assert dg.DagsterRunStatus.SUCCESS in statuses and dg.DagsterRunStatus.FAILURE in statuses
        # The resources take secrets through EnvVar: the run config names the variable only.
        for record in records:
            config = json.dumps(record.dagster_run.run_config, default=str)
            assert not leaks_in_text(config)


def test_no_secret_in_the_dagster_instance(flow, reliability):
    env, _, _ = flow
    home = Path(env["DAGSTER_HOME"])
    assert leaks_in_tree(home) == {}
    files = sum(1 for p in home.rglob("*") if p.is_file())
    reliability.record(
        fault="secrets (ACE token, API keys, webhook URL) through runs that succeed and fail",
        component="Dagster instance",
        system_did=f"0 secret values in {files} instance files (event log, run config, tags, compute logs)",
        lost="nothing: no secret stored",
    )


def test_no_secret_in_the_storage(flow, reliability):
    env, _, _ = flow
    storage = Path(env["BV_STORAGE_URL"])
    assert leaks_in_tree(storage) == {}
    if Path(env["BV_HOME"]).exists():  # bv's own data folder, when a command made one
        assert leaks_in_tree(Path(env["BV_HOME"])) == {}
    files = sum(1 for p in storage.rglob("*") if p.is_file())
    reliability.record(
        fault="secrets (ACE token, API keys, webhook URL) through runs that succeed and fail",
        component="storage",
        system_did=f"0 secret values in {files} stored files (raw, archive, catalog, live, cursor) and BV_HOME",
        lost="nothing: no secret stored",
    )


def test_no_secret_in_what_the_cli_printed(flow, reliability):
    _, runs, _ = flow
    found = {cmd: leaks_in_text(proc.stdout + proc.stderr) for cmd, proc in runs}
    assert {cmd: hits for cmd, hits in found.items() if hits} == {}
    printed = sum(len(proc.stdout) + len(proc.stderr) for _, proc in runs)
    reliability.record(
        fault="secrets through `bv` commands that succeed and fail (-v: Dagster's log and tracebacks)",
        component="logs (CLI)",
        system_did=f"0 secret values in {printed:,} characters printed by {len(runs)} commands",
        lost="nothing: no secret printed",
    )
    config = json.loads(next(proc.stdout for cmd, proc in runs if cmd == "config --json"))
    assert config  # the masked settings were printed, and none of their values is a secret (above)


# ---------------------------------------------------------------- the webhook payload


def _failed_runs(home: Path):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])):
            run = record.dagster_run
            (event,) = [e.dagster_event for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)]
            yield instance, run, event


def _logged(caplog, capfd) -> str:
    """What the sensor logged: Python log records (httpx's own request lines aside, see
    test_the_webhook_url_stays_out_of_info_logs) and what Dagster's logger printed."""
    out, err = capfd.readouterr()
    records = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    return "\n".join([*records, out, err])


def _report(instance, run, event, webhook_url: str) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_reporter", dagster_event=event, dagster_instance=instance, dagster_run=run,
        resources={"alerts": AlertWebhookResource(url=webhook_url)},
    ).for_run_failure()
    run_failure_reporter(context)


def test_run_failure_webhook_payloads_carry_no_secret(flow, caplog, capfd):
    """Every failed run of the flow (token rejected, token echoed by a hostile ACE) reported
    through the real sensor body to a real receiver: the payloads, and the sensor's log, hold no
    secret — and the webhook URL's own token stays out of the log."""
    env, _, webhook = flow
    before = len(webhook.posts)
    caplog.set_level("DEBUG")
    reported = 0
    for instance, run, event in _failed_runs(Path(env["DAGSTER_HOME"])):
        _report(instance, run, event, webhook.url)
        reported += 1
    assert reported >= 3  # office + school catalog/day runs that failed above
    posts = webhook.posts[before:]
    assert len(posts) == reported
    for post in posts:
        payload = json.loads(post["body"])
        assert {"text", "run_id", "job", "error"} <= set(payload)
        assert leaks_in_text(post["body"]) == [], payload
    logged = _logged(caplog, capfd)
    assert "Building Vitals: run" in logged  # the sensor's log line was captured
    assert leaks_in_text(logged) == []


def test_a_failing_webhook_is_logged_without_its_url(flow, caplog, capfd):
    env, _, _ = flow
    refusing = Webhook(status=500)
    caplog.set_level("DEBUG")
    try:
        instance_run_event = next(iter(_failed_runs(Path(env["DAGSTER_HOME"]))))
        _report(*instance_run_event, refusing.url)
    finally:
        refusing.close()
    assert len(refusing.posts) == 1
    logged = _logged(caplog, capfd)
    assert "alert webhook failed: HTTPStatusError" in logged, logged
    assert leaks_in_text(logged) == []


def test_the_webhook_url_stays_out_of_info_logs(flow, caplog):
    env, _, webhook = flow
    caplog.set_level("INFO")
    _report(*next(iter(_failed_runs(Path(env["DAGSTER_HOME"])))), webhook.url)
    assert leaks_in_text("\n".join(r.getMessage() for r in caplog.records)) == []


def test_a_failure_message_holding_the_token_arrives_scrubbed(tmp_path, caplog, capfd):
    """Reproduction: a run whose run-level failure message contains the token (as the message of
    a run worker that died on an ACE error would), reported by the real sensor body."""
    webhook = Webhook()
    caplog.set_level("DEBUG")

    @dg.asset
    def placeholder():
        return 1

    try:
        with dg.DagsterInstance.ephemeral() as instance:
            run = instance.get_run_by_id(dg.materialize([placeholder], instance=instance).run_id)
            event = instance.report_run_failed(
                run, message=f"Run worker failed: ACE answered 401 to Authorization: Bearer {ACE_TOKEN}")
            _report(instance, run, event, webhook.url)
    finally:
        webhook.close()
    (post,) = webhook.posts
    assert leaks_in_text(post["body"]) == [], json.loads(post["body"])
    assert leaks_in_text(_logged(caplog, capfd)) == []


# ---------------------------------------------------------------- the HTTP API


@pytest.fixture(scope="module")
def served(flow, tmp_path_factory):
    """`bv serve` over the flow's storage with BV_API_KEYS set; its log captured to a file."""
    env, _, _ = flow
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bv_cli.main", "serve", "--port", str(port), "--log-level", "debug"],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            with httpx.Client(base_url=url, timeout=60) as client:
                yield client, log_path
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _day_query(site: str, **extra) -> dict:
    return {"site_name": site, "point": extra.pop("point", ""), "start_time": TEST_DAY.isoformat(),
            "end_time": (TEST_DAY + timedelta(days=1)).isoformat(), "interval": "1h", **extra}


def _a_point(client, site: str) -> str:
    return client.get(f"/sites/{site}/points", params={"limit": "1"}, headers=_bearer(KEY_ALL)).json()["points"][0]["name"]


def test_a_key_scoped_to_one_site_sees_only_that_site_everywhere(served, reliability):
    client, _ = served
    office = _bearer(KEY_OFFICE)
    # Listing: only its site, while the key for every site sees both.
    assert {s["name"] for s in client.get("/sites", headers=_bearer(KEY_ALL)).json()["sites"]} >= {OFFICE, SCHOOL}
    assert [s["name"] for s in client.get("/sites", headers=office).json()["sites"]] == [OFFICE]
    # Its own site answers on every endpoint.
    office_point, school_point = _a_point(client, OFFICE), _a_point(client, SCHOOL)
    assert client.get(f"/sites/{OFFICE}/points", headers=office).json()["total"] > 0
    assert client.get("/timeseries/query", params=_day_query(OFFICE, point=office_point), headers=office).status_code == 200
    # Every endpoint refuses the other site with 403 — and a site that does not exist the same
    # way, so the answer does not tell which other sites exist.
    for site in (SCHOOL, "no_such_site"):
        for path, params in ((f"/sites/{site}/points", {}), (f"/sites/{site}/points", {"q": "temp"}),
                             (f"/sites/{site}/health", {}), ("/timeseries/query", _day_query(site, point=school_point))):
            r = client.get(path, params=params, headers=office)
            assert r.status_code == 403, (path, params, r.status_code, r.text)
            assert school_point not in r.text
    # Spellings of the other site that must not slip past the scope check into its data.
    for spelled in (f" {SCHOOL} ", f"{SCHOOL}\n", f"{OFFICE},{SCHOOL}", f"{OFFICE}/../{SCHOOL}", SCHOOL.upper()):
        r = client.get("/timeseries/query", params=_day_query(spelled, point=school_point), headers=office)
        assert r.status_code in (400, 403, 404), (spelled, r.status_code, r.text[:300])
        assert school_point not in r.text or r.status_code != 200
    # Point search cannot reach the other site's points through the query either.
    found = client.get(f"/sites/{OFFICE}/points", params={"q": school_point, "limit": "1000"}, headers=office).json()
    assert all(p["name"].split("/")[1] != SCHOOL for p in found["points"])
    reliability.record(
        fault="an API key scoped to one site asks for another site (listings, points, search, health, query, 5 spellings)",
        component="query API",
        system_did="listing shows its site only; every other-site request 403 (same for a site that does not exist)",
        lost="nothing: no other-site point name in any answer",
    )


def test_no_key_in_api_answers_or_in_the_server_log(served):
    client, log_path = served
    answers = []
    for headers in (None, _bearer(KEY_ALL), _bearer(KEY_OFFICE), _bearer(KEY_ALL[:-1] + "x"),
                    {"Authorization": KEY_ALL}, {"Authorization": f"Basic {KEY_OFFICE}"}):
        for path, params in (("/sites", {}), (f"/sites/{SCHOOL}/points", {}), ("/timeseries/query", _day_query(SCHOOL)),
                             ("/timeseries/query", _day_query(OFFICE, format="csv")), ("/health", {}),
                             ("/openapi.json", {})):
            r = client.get(path, params=params, headers=headers)
            assert r.status_code < 500, (path, r.status_code, r.text)
            answers.append(r.text + json.dumps(dict(r.headers)))
    assert sum(leaks_in_text(a) != [] for a in answers) == 0
    time.sleep(0.5)  # the access log line of the last request
    log = log_path.read_bytes()
    assert b"GET /sites" in log  # the log was captured: access lines at debug level
    assert leaks_in_text(log) == []
