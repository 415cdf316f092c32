"""Sub-task rules: a task's parent is a task of the same user and list, at most 4 levels deep,
and never the task itself or one of its own sub-tasks. Pure checks over what the data layer
read; a broken rule is a RuleViolation naming the request field at fault.
"""

from __future__ import annotations

from collections.abc import Collection

MAX_DEPTH = 4


class RuleViolation(ValueError):
    """A write breaks a rule of the task model; `field` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_parent(
    task_id: object | None,
    parent_level: int,
    parent_chain: Collection[object],
    subtree_height: int = 0,
) -> None:
    """Check that a task (with a sub-tree `subtree_height` levels below it) may go under a parent.

    `parent_level` is the parent's own depth (1 for a top-level task) and `parent_chain` the
    ids of the parent and all its ancestors; `task_id` is None for a task being created.
    """
    if task_id is not None and task_id in parent_chain:
        raise RuleViolation(
            "parent_id", "A task cannot go under itself or one of its own sub-tasks."
        )
    if parent_level + 1 + subtree_height > MAX_DEPTH:
        raise RuleViolation(
            "parent_id", f"Sub-tasks nest at most {MAX_DEPTH} levels deep (a 5th is refused)."
        )
