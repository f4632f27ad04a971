"""Catalog folders shipped in the wheel (envs/, agents/ at the top of a checkout)."""
