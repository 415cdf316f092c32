"""Test helpers for the listing: walk pages by their Link headers, and the expected order."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

RANK = {"low": 0, "normal": 1, "high": 2}
LINK = re.compile(r'^<([^>]+)>; rel="next"$')


def next_url(resp) -> str | None:
    """Return the absolute URL of the Link rel=next header, or None without one."""
    link = resp.headers.get("Link")
    if link is None:
        return None
    match = LINK.match(link)
    assert match, f"malformed Link header: {link!r}"
    return match.group(1)


def relative(url: str) -> str:
    """Return the path and query of an absolute URL (asserting it is absolute)."""
    parts = urlsplit(url)
    assert parts.scheme in {"http", "https"} and parts.netloc, url
    return f"{parts.path}?{parts.query}"


def cursor_of(url: str) -> str:
    """Return the cursor parameter of a next-page URL."""
    return parse_qs(urlsplit(url).query)["cursor"][0]


def walk(app, path: str, params: dict | None = None, between=None, max_pages: int = 100):
    """GET every page from `path`, following Link rel=next; return the pages' task lists.

    `between(page_number)` runs after each page that has a successor (to change data).
    """
    pages = []
    resp = app.get(path, params or {})
    while True:
        pages.append(resp.json)
        url = next_url(resp)
        if url is None:
            return pages
        assert len(pages) < max_pages, "too many pages"
        if between is not None:
            between(len(pages))
        resp = app.get(relative(url))


def sort_value(task: dict, key: str):
    """Return the comparable value of `task` for a sort key (None when the task has none)."""
    value = task[key]
    if value is None:
        return None
    if key in {"created_at", "updated_at", "due_at"}:
        return datetime.fromisoformat(value)
    if key == "priority":
        return RANK[value]
    if key == "title":
        # The server's lower case when the test read it (locales differ beyond ASCII).
        return task.get("title_lower", value.lower())
    return value


def expected_order(tasks: list[dict], sort: str) -> list[dict]:
    """Return `tasks` in the contract's order: key, then id, both in the sort's direction;
    tasks without a due_at / order last in both directions."""
    key, descending = sort.lstrip("-"), sort.startswith("-")
    valued = [t for t in tasks if t[key] is not None]
    missing = [t for t in tasks if t[key] is None]
    valued.sort(key=lambda t: (sort_value(t, key), UUID(t["id"])), reverse=descending)
    missing.sort(key=lambda t: UUID(t["id"]), reverse=descending)
    return valued + missing


def ids(tasks: list[dict]) -> list[str]:
    """Return the ids of tasks, in order."""
    return [t["id"] for t in tasks]
