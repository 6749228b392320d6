"""bv_resources."""
