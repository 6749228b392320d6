"""bv_sim."""
