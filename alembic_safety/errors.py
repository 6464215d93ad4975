"""Errors that end a run with a one-line message and a documented exit code (never a traceback)."""

from __future__ import annotations

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "EXIT_USAGE", "UsageError"]

#: Nothing at or above the failing level.
EXIT_OK = 0
#: Findings at or above the failing level (or, later, a failed dry run).
EXIT_FINDINGS = 1
#: Usage, configuration or environment error.
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input, configuration or environment: one line on stderr, exit 2."""
