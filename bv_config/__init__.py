"""Configuration in one room: `Settings.load()` reads every BV_* variable (and ACE_API_BASE)."""

from bv_config.settings import Settings, SettingsError, bv_home, parse_sites

__all__ = ["Settings", "SettingsError", "bv_home", "parse_sites"]
