"""Maintenance domain: raw-zone retention."""
