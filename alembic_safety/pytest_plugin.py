"""pytest plugin entry point (``pytest11``), reserved for the migration-testing fixtures.

Registered now so that installing a later release does not change which plugins pytest loads;
it deliberately defines nothing yet and has no import-time cost.
"""

from __future__ import annotations
