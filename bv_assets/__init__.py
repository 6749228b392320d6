"""bv_assets."""
