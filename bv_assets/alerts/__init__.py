"""Alerts domain: every failed run is reported (log + webhook)."""
