"""Duration estimates: a straight line through two measured sizes, read at production size.

The stairway times each revision's re-upgrade at the seeded size. A revision whose upgrade
took an ACCESS EXCLUSIVE or SHARE lock on a table that existed before it, or rewrote one, is
timed once more after its downgrade, with ``scale_factor - 1`` times their seeded rows added to
those tables. Through the two points (rows in those tables together, ms) goes the line
``ms = a + b * rows``; the estimate is that line at the tables' production row counts, given
as ``production_rows`` (``N`` / ``table=N``) or read from ``pg_class.reltuples`` of a
production (replica) database at ``stats_url`` — on a read-only session that never writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from alembic_safety.dryrun.report import DryRunReport
from alembic_safety.errors import UsageError

__all__ = ["apply_estimates", "extrapolate", "fit_line", "read_reltuples", "stats_connection"]


def fit_line(samples: Sequence[tuple[int, float]]) -> tuple[float, float] | None:
    """Least-squares ``ms = a + b * rows`` through (rows, ms) samples, as (a, b).

    Neither may be negative (a faster larger run is noise, not a negative cost per row): with
    a negative slope the line is flat at the mean. None without two distinct sizes.
    """
    sizes = {rows for rows, _ in samples}
    if len(sizes) < 2:
        return None
    n = len(samples)
    mean_x = sum(rows for rows, _ in samples) / n
    mean_y = sum(ms for _, ms in samples) / n
    sxx = sum((rows - mean_x) ** 2 for rows, _ in samples)
    sxy = sum((rows - mean_x) * (ms - mean_y) for rows, ms in samples)
    b = max(0.0, sxy / sxx)
    a = max(0.0, mean_y - b * mean_x)
    return a, b


def extrapolate(samples: Sequence[tuple[int, float]], rows: int) -> float | None:
    """The fitted line at ``rows`` (ms), or None when it cannot be fitted."""
    fit = fit_line(samples)
    if fit is None:
        return None
    a, b = fit
    return a + b * rows


def _lookup(table: str, per_table: Mapping[str, int]) -> int | None:
    for key in (table, table.removeprefix("public."), f"public.{table}"):
        if key in per_table:
            return per_table[key]
    return None


def stats_connection(url: str) -> psycopg.Connection[Any]:
    """A read-only session on the statistics database (every transaction read only)."""
    try:
        connection = psycopg.connect(
            url, connect_timeout=10, options="-c default_transaction_read_only=on"
        )
    except psycopg.Error as exc:
        raise UsageError(f"stats_url: cannot connect: {str(exc).strip()}") from None
    connection.execute("SET default_transaction_read_only = on")
    connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    connection.commit()
    return connection


def read_reltuples(url: str, tables: Sequence[str]) -> dict[str, int]:
    """``pg_class.reltuples`` of ``tables`` (``t`` or ``schema.t``); never analysed or missing
    tables are left out. Reads nothing else and writes nothing."""
    found: dict[str, int] = {}
    with stats_connection(url) as connection:
        for table in tables:
            row = connection.execute(
                "SELECT c.reltuples FROM pg_class c WHERE c.oid = to_regclass(%s)", (table,)
            ).fetchone()
            if row is not None and row[0] is not None and float(row[0]) >= 0:
                found[table] = int(float(row[0]))
        connection.rollback()
    return found


def apply_estimates(
    report: DryRunReport,
    *,
    rows: int | None = None,
    per_table: Mapping[str, int] | None = None,
    stats_url: str | None = None,
) -> None:
    """Fill in each estimate's production row counts and ``estimated_ms``.

    Counts come from ``per_table``, then ``stats_url``, then ``rows`` (every table); a revision
    gets an estimate only when each of its tables has a count.
    """
    estimates = [r.estimate for r in report.revisions if r.estimate is not None]
    if not estimates:
        return
    given = dict(per_table or {})
    stats: dict[str, int] = {}
    if stats_url:
        wanted = sorted({t for e in estimates for t in e.tables if _lookup(t, given) is None})
        if wanted:
            stats = read_reltuples(stats_url, wanted)
    for estimate in estimates:
        counts: dict[str, int] = {}
        for table in estimate.tables:
            count = _lookup(table, given)
            if count is None:
                count = stats.get(table, rows)
            if count is not None:
                counts[table] = count
        estimate.production_rows = counts
        if len(counts) == len(estimate.tables):
            estimate.estimated_ms = extrapolate(estimate.samples, sum(counts.values()))
