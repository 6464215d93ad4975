"""A tiny web shop: the application whose Alembic history the README demo lints."""
