"""Live domain: the 5-minute sync per site, its freshness check, and the release of a
closed day's live data after the archive passed its blocking checks."""
