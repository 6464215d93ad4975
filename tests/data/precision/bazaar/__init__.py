"""The bazaar marketplace application (only what its migrations need)."""
