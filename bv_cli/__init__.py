"""bv_cli."""
