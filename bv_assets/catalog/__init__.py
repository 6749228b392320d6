"""Catalog domain: `ace_points` (a site's collect-enabled points), its job and daily refresh."""
