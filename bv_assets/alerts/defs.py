"""run_failure_reporter: logs every failed run with its job, partition and error, and POSTs
it to the alert webhook when one is configured. A webhook that fails is logged, never
hidden — and never fails the sensor into silence."""


import logging
import re
from contextlib import contextmanager

import dagster as dg
import httpx
from pydantic import Field

from bv_config.secrets import secret_values

_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")


def scrub(text: str, webhook_url: str | None = None) -> str:
    """A failure message may quote a token (a run launcher's or monitor's own text): mask it."""
    for secret in secret_values(None, webhook_url):
        text = text.replace(secret, "***")
    return _BEARER.sub("Bearer ***", text)


@contextmanager
def _quiet_httpx():
    # httpx logs each request URL at INFO; a webhook URL often embeds its token.
    logger = logging.getLogger("httpx")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


class AlertWebhookResource(dg.ConfigurableResource):
    """Where failed runs are POSTed (Slack-style JSON); unset means log only."""

    url: str | None = Field(default=None, description="BV_ALERT_WEBHOOK_URL (secret: it often embeds a token)")
    timeout_s: float = 10.0

    def post(self, payload: dict) -> None:
        if self.url:
            with _quiet_httpx():
                httpx.post(self.url, json=payload, timeout=self.timeout_s).raise_for_status()


def failure_payload(run: dg.DagsterRun, message: str) -> dict:
    return {
        "text": f"Building Vitals: run {run.run_id[:8]} of {run.job_name} failed"
        + (f" ({run.tags.get('dagster/partition')})" if run.tags.get("dagster/partition") else ""),
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "error": message[:2000],
    }


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="Reports every failed run (log, plus BV_ALERT_WEBHOOK_URL when set).",
)
def run_failure_reporter(context: dg.RunFailureSensorContext, alerts: AlertWebhookResource):
    # Scrubbed before it is cut, posted or logged.
    message = scrub(context.failure_event.message or "run failed", alerts.url)
    payload = failure_payload(context.dagster_run, message)
    context.log.error(payload["text"] + ": " + payload["error"])
    try:
        alerts.post(payload)
    except httpx.HTTPError as exc:
        context.log.error(f"alert webhook failed: {type(exc).__name__}")


defs = dg.Definitions(sensors=[run_failure_reporter])
