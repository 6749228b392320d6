"""Settings: defaults, environment over file over default, secrets only from the environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bv_config.settings import DEFAULT_SITES, DEFAULT_START_DATE, Settings, SettingsError


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    # The default BV_HOME is ./.bv: keep any config.toml of the working folder out of reach.
    monkeypatch.chdir(tmp_path)


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "AWS_"))}
    return {**env, **extra}


def test_empty_env_gives_defaults_and_every_source_is_default(tmp_path):
    s = Settings.load({})
    assert s.sites == DEFAULT_SITES and s.start_date == DEFAULT_START_DATE
    assert Path(s.home) == (tmp_path / ".bv").resolve()
    assert s.storage_url == str(Path(s.home) / "storage")
    assert s.sources and set(s.sources.values()) == {"default"}
    assert {r["source"] for r in s.describe()} == {"default"}


def test_environment_overrides_default_and_is_reported():
    s = Settings.load({"BV_SITES": "east.wing,west-wing", "BV_STEP_RETRIES": "7", "BV_MAX_SHRINK_RATIO": "0.5"})
    assert s.sites == ("east.wing", "west-wing") and s.step_retries == 7 and s.max_shrink_ratio == 0.5
    assert s.sources["sites"] == s.sources["step_retries"] == "environment"
    assert s.sources["start_date"] == "default"
    row = next(r for r in s.describe() if r["variable"] == "BV_SITES")
    assert (row["value"], row["source"]) == ("east.wing,west-wing", "environment")


def _write_config(tmp_path, text: str) -> Path:
    path = tmp_path / "bv.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("via", ["argument", "BV_CONFIG_FILE"])
def test_config_file_sets_values_reported_as_file_and_env_beats_file(tmp_path, via):
    path = _write_config(tmp_path, 'BV_SITES = ["from_file"]\nBV_LATE_DATA_DAYS = 5\nBV_SITES_FROM_ACE = true\n')
    env = {"BV_SITES": "from_env"}
    if via == "argument":
        s = Settings.load(env, config_file=path)
        only_file = Settings.load({}, config_file=path)
    else:
        s = Settings.load({**env, "BV_CONFIG_FILE": str(path)})
        only_file = Settings.load({"BV_CONFIG_FILE": str(path)})
    assert only_file.sites == ("from_file",) and only_file.sources["sites"] == "file"
    assert s.sites == ("from_env",) and s.sources["sites"] == "environment"
    assert s.late_data_days == 5 and s.sources["late_data_days"] == "file"
    assert s.sites_from_ace is True and s.sources["sites_from_ace"] == "file"
    assert s.sources["query_max_days"] == "default"


def test_missing_named_config_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load({"BV_CONFIG_FILE": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize("key", ["ACE_API_KEY", "BV_API_KEYS", "BV_ALERT_WEBHOOK_URL", "AWS_SECRET_ACCESS_KEY"])
def test_config_file_naming_a_secret_is_refused(tmp_path, key):
    path = _write_config(tmp_path, f'{key} = "file-secret-value"\n')
    with pytest.raises(SettingsError, match="secrets come from the environment") as info:
        Settings.load({}, config_file=path)
    assert key in str(info.value) and "file-secret-value" not in str(info.value)


def test_config_file_unknown_key_is_refused(tmp_path):
    path = _write_config(tmp_path, "BV_NOT_A_SETTING = 1\n")
    with pytest.raises(SettingsError, match="BV_NOT_A_SETTING"):
        Settings.load({}, config_file=path)


@pytest.mark.parametrize("var, value", [
    ("BV_START_DATE", "yesterday"), ("BV_MAX_SHRINK_RATIO", "2"),
    ("BV_STEP_RETRIES", "abc"), ("BV_SITES", "bad name!"),
])
def test_bad_values_raise_naming_the_variable(var, value):
    with pytest.raises(SettingsError, match=var):
        Settings.load({var: value})


def test_describe_masks_secrets():
    s = Settings.load({"BV_API_KEYS": "k1:siteA", "BV_ALERT_WEBHOOK_URL": "https://hooks.example/tok-123"})
    rows = s.describe()
    assert not [r for r in rows if any("k1:siteA" in str(v) or "tok-123" in str(v) for v in r.values())]
    shown = {r["variable"]: r for r in rows}
    assert shown["BV_API_KEYS"]["value"] == "***" and shown["BV_API_KEYS"]["source"] == "environment"
    assert shown["BV_ALERT_WEBHOOK_URL"]["value"] == "***"
    unset = {r["variable"]: r["value"] for r in Settings.load({}).describe()}
    assert unset["BV_API_KEYS"] == unset["BV_ALERT_WEBHOOK_URL"] == "(unset)"


def test_repr_masks_secrets():
    s = Settings.load({"BV_API_KEYS": "k1:siteA", "BV_ALERT_WEBHOOK_URL": "https://hooks.example/tok-123"})
    assert "k1:siteA" not in repr(s) and "tok-123" not in repr(s)


def test_home_cannot_come_from_the_config_file_it_locates(tmp_path):
    path = _write_config(tmp_path, f'BV_HOME = "{tmp_path / "elsewhere"}"\n')
    with pytest.raises(SettingsError, match="BV_HOME"):
        Settings.load({}, config_file=path)


def test_nothing_is_read_at_import_time(tmp_path):
    code = "import bv_config.settings, bv_assets.definitions, bv_query.api; print('imported')"
    env = _clean_env(BV_START_DATE="not-a-date")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
    code = "from bv_config.settings import Settings; Settings.load()"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0 and "BV_START_DATE" in done.stderr and "SettingsError" in done.stderr


def test_bv_config_command_shows_sources_and_hides_secrets(tmp_path):
    env = _clean_env(ACE_API_KEY="some-secret-value", BV_API_KEYS="another-secret", BV_SITES="cli_site")
    done = subprocess.run([sys.executable, "-m", "bv_cli.main", "config"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stdout.splitlines() if l.startswith("BV_SITES "))
    assert line.split()[1:3] == ["cli_site", "environment"]
    for secret in ("some-secret-value", "another-secret"):
        assert secret not in done.stdout and secret not in done.stderr
    assert "***" in next(l for l in done.stdout.splitlines() if l.startswith("ACE_API_KEY"))
