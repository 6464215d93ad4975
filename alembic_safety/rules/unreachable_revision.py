"""AS602 unreachable-revision.

History-level, like AS601: the engine reports it while it walks a history (the rule cannot see
other revisions from ``check_revision``). :meth:`UnreachableRevision.check_history` computes the
violations from the history read, so the engine only has to attach them to the reports.
"""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.loading import History, RevisionScript
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, Violation, registry


def _cycles(parents: dict[str, tuple[str, ...]]) -> set[str]:
    """Revisions that are their own ancestor (iterative DFS; histories can be long)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    in_cycle: set[str] = set()
    for start in parents:
        if start in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(parents.get(start, ())))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif child not in parents:
                continue
            elif state.get(child) == 1:
                in_cycle.update(path[path.index(child) :])
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(parents.get(child, ()))))
    return in_cycle


@registry.register
class UnreachableRevision(Rule):
    """A revision whose `down_revision` names no revision, so the history cannot be walked.

    ## What it does
    Reported on each revision whose `down_revision` (or `depends_on`) names a revision id that
    no file of the history declares — usually a parent deleted, renamed or not yet merged from
    another branch — and on revisions that are their own ancestor (a cycle). Either way Alembic
    cannot build the revision graph, and the revision is unreachable from `base`. Not reported
    when only some files are checked (pre-commit mode), where parents are expected to be missing.

    ## Why is this bad?
    `alembic upgrade head` refuses to start ("Revision ... referenced from ... is not present"),
    so the deploy fails before the first migration runs, and the linter cannot order the
    history either (facts from earlier revisions are not known).

    ## Example
    ```
    revision = "b2c3d4e5f6a7"
    down_revision = "a1b2c3d4e5f6"   # no file declares revision = "a1b2c3d4e5f6"
    ```

    ## Use instead
    Point `down_revision` at the revision it really follows (`alembic heads` shows the
    candidates), or restore the missing file.

    ## Fix safety
    No automatic fix: which parent is right is the author's decision.
    """

    code = "AS602"
    name = "unreachable-revision"
    risk = Risk.MEDIUM

    def check_history(self, history: History) -> Iterator[tuple[RevisionScript, Violation]]:
        """``(script, violation)`` for each revision that breaks the revision graph.

        Missing parents are expected, and not reported, when only some files of the history
        were given (pre-commit mode: ``history.partial``).
        """
        scripts = history.scripts
        known = {s.revision for s in scripts if s.revision is not None}
        labels = {label for s in scripts for label in s.branch_labels}
        parents = {
            s.revision: (*s.down_revisions, *s.depends_on)
            for s in scripts
            if s.revision is not None
        }
        looping = _cycles(parents)
        for script in scripts:
            if script.revision is None:
                continue
            missing: list[str] = []
            if not history.partial:
                missing = [r for r in script.down_revisions if r not in known]
                # depends_on may also name a branch label or a unique id prefix
                missing += [
                    r
                    for r in script.depends_on
                    if r not in labels and not any(k.startswith(r) for k in known)
                ]
            if missing:
                names = ", ".join(repr(r) for r in missing)
                yield (
                    script,
                    Violation(
                        message=f"revision {script.revision} follows {names}, which no revision "
                        "file declares: the history cannot be built and `alembic upgrade` fails",
                        help="# point down_revision at the revision this one follows "
                        "(`alembic heads` lists the candidates), or restore the missing file",
                    ),
                )
            elif script.revision in looping:
                yield (
                    script,
                    Violation(
                        message=f"revision {script.revision} is its own ancestor (a cycle in "
                        "down_revision): the history cannot be built and `alembic upgrade` fails",
                        help="# break the cycle: down_revision must name an older revision",
                    ),
                )
