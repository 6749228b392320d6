"""Rollups domain: `hourly_rollup` per site-month, rebuilt by declarative automation."""
