"""Sites domain: `sites_sensor` keeps the `site` partitions in step with the configured sites."""
