"""Verify domain: re-run the archive and rollup checks over stored partitions, without ACE."""
