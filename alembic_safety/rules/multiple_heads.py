"""AS601 multiple-heads."""

from __future__ import annotations

from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, registry


@registry.register
class MultipleHeads(Rule):
    """The history has more than one head.

    ## What it does
    Reported on each head revision when the history (of the configured script directory, or the
    files given) has several heads that are not declared as separate branches.

    ## Why is this bad?
    `alembic upgrade head` refuses to run ("Multiple head revisions are present"), so the deploy
    fails. It usually happens when two branches of the code each added a revision.

    ## Example
    Two revisions both declaring `down_revision = "a1b2c3d4e5f6"`.

    ## Use instead
    ```
    alembic merge -m "merge heads" heads
    ```

    ## Fix safety
    The merge revision is empty; it only records the order.
    """

    code = "AS601"
    name = "multiple-heads"
    risk = Risk.MEDIUM
