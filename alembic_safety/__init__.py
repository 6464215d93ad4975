"""alembic-safety: make Alembic migrations safe to run against production PostgreSQL.

The public, stable API lives in :mod:`alembic_safety.risk`; importing this package has no side
effects beyond defining the version.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
