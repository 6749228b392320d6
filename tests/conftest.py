"""Shared pytest fixtures: each fixture module owns one real component started for real."""

pytest_plugins = ["fixtures_sim", "fixtures_s3", "fixtures_pipeline", "fixtures_query"]
