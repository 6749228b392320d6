"""Site-day domain: `raw_site_day` + `archived_site_day` (+ checks), `site_day_job`,
day close and the late-data re-check."""
