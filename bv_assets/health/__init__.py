"""Point health: how each point behaved during an archived site-day (asset point_health)."""
