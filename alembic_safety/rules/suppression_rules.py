"""AS903 suppression-without-reason and AS904 unused-suppression.

Reported by the engine while it applies suppression comments; registered here so that their
codes, names and documentation live with the other rules.
"""

from __future__ import annotations

from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, registry


@registry.register
class SuppressionWithoutReason(Rule):
    """A suppression comment without a reason (it is not applied).

    ## What it does
    Reports `# alembic-safety: ignore[AS101]` with nothing after the bracket.

    ## Why is this bad?
    A suppression is a decision someone took about production; without the reason, the next
    reader cannot tell whether it still holds. It is not applied until a reason is given.

    ## Example
    ```python
    op.drop_column("users", "phone")  # alembic-safety: ignore[AS301]
    ```

    ## Use instead
    ```python
    op.drop_column("users", "phone")  # alembic-safety: ignore[AS301] unused since 2024.06
    ```

    ## Fix safety
    Nothing to fix automatically: write the reason.
    """

    code = "AS903"
    name = "suppression-without-reason"
    risk = Risk.LOW


@registry.register
class UnusedSuppression(Rule):
    """A suppression comment that matches no finding.

    ## What it does
    Reports `# alembic-safety: ignore[...]` comments whose codes match no finding on the
    statement they apply to (the same line, or the next statement when the comment stands alone).

    ## Why is this bad?
    A stale suppression would silently hide a real danger if the code under it changes.

    ## Example
    ```python
    # alembic-safety: ignore[AS106] small table
    op.add_column("users", sa.Column("bio", sa.Text()))
    ```

    ## Use instead
    Remove it, or move it onto the statement it is meant for.

    ## Fix safety
    Removing it is always safe.
    """

    code = "AS904"
    name = "unused-suppression"
    risk = Risk.LOW
