"""Conditional requests (RFC 9110 section 13) over the task's ETag, which is its version.

`If-Match` on a write compares strongly: only a strong tag equal to the current one (or
`*`) lets the write through, and the comparison happens inside the write's own SQL
statement, so no other write can slip in between. `If-None-Match` on a read compares
weakly, as the RFC asks, and answers 304 when a tag matches.

A precondition on a task that does not exist (or belongs to someone else) answers 404,
not 412: RFC 9110 13.2.1 has the server ignore preconditions when the request without
them would not succeed, and a 404 keeps a foreign task indistinguishable from none.
"""

from __future__ import annotations

import re
from typing import Any

import falcon

from service.data.preconditions import PreconditionFailed
from service.data.tasks import Row

_VERSION_TAG = re.compile(r"[0-9]{1,10}")
_MAX_VERSION = 2**31 - 1


def if_match_versions(req: falcon.Request) -> list[int] | None:
    """Return the versions `If-Match` allows, or None when the write is unconditional.

    `*` asks only that the task exist, which every write checks anyway. Weak tags never
    match strongly, and a tag that is not one of ours matches no version.
    """
    return versions_matching(req.if_match)


def versions_matching(tags: list[Any] | None) -> list[int] | None:
    """Return the versions the entity tags of an If-Match allow; None for none or `*`."""
    if tags is None or "*" in tags:
        return None
    versions = []
    for tag in tags:
        if not tag.is_weak and _VERSION_TAG.fullmatch(tag) and int(tag) <= _MAX_VERSION:
            versions.append(int(tag))
    return versions


def not_modified(req: falcon.Request, row: Row) -> bool:
    """Tell whether `If-None-Match` names the task's current ETag (weak comparison) or `*`."""
    tags = req.if_none_match
    if tags is None:
        return False
    current = str(row["version"])
    return any(tag == "*" or tag == current for tag in tags)


def handle_precondition_failed(
    req: falcon.Request, resp: falcon.Response, error: PreconditionFailed, params: dict[str, Any]
) -> None:
    """Answer 412 when a conditional write found the task at another version."""
    raise precondition_failed()


def precondition_failed() -> falcon.HTTPPreconditionFailed:
    """Return the 412 of a conditional write that found the task at another version."""
    return falcon.HTTPPreconditionFailed(
        description="It has changed: If-Match does not match its current ETag."
    )
