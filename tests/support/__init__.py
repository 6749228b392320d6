"""Test support shared by the suite and the benchmarks: one free-port helper, one
PostgreSQL launcher, one simulator launcher, the pipeline's definitions, and the pytest
fixtures (`fixtures_*`) that start each real component."""
