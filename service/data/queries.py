"""The SQL catalogue: every statement lives in sql/<name>.sql and is loaded once by name.

Request-path statements sit at the top of sql/; the background worker's cross-user
statements sit in sql/jobs/ and load as "jobs/<name>", so that a job's statement is never
mistaken for one that serves a request (tests/test_sql_user_scope.py holds each folder to
its own rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import psycopg._queries as _psycopg_queries

from service.core.config import SQL_DIR

# Subfolders of sql/ whose statements load as "<folder>/<name>".
SUBFOLDERS = ("jobs",)

# psycopg converts a statement's %(name)s placeholders on every execute, and caches the
# conversion (an LRU of 128) only for statements of at most 4 kB: a longer one is parsed
# again each time. A toggle's statement with its comments (5 kB) spent ~130 us of CPU per
# request there, a PATCH's (18 kB) more. So statements are sent without their comments and
# indentation, and the limit, meant for ORM-generated text of unbounded variety, is raised
# to cover this fixed catalogue (tests/test_queries.py fails if psycopg drops the knob).
CACHED_STATEMENT_LENGTH = 32768
if getattr(_psycopg_queries, "MAX_CACHED_STATEMENT_LENGTH", 0) < CACHED_STATEMENT_LENGTH:
    _psycopg_queries.MAX_CACHED_STATEMENT_LENGTH = CACHED_STATEMENT_LENGTH


class QueryNotFound(LookupError):
    """A statement was asked for by a name that has no file in sql/."""


class Queries(Mapping[str, str]):
    """Named SQL statements read once from a directory; the key is the file name without .sql."""

    def __init__(self, statements: Mapping[str, str]) -> None:
        self._statements = dict(statements)

    @classmethod
    def load(cls, directory: Path = SQL_DIR) -> Queries:
        """Read every *.sql file of `directory`, and of its subfolders in SUBFOLDERS."""
        statements = {
            path.stem: compact(path.read_text(encoding="utf-8"))
            for path in sorted(directory.glob("*.sql"))
        }
        for folder in SUBFOLDERS:
            for path in sorted((directory / folder).glob("*.sql")):
                statements[f"{folder}/{path.stem}"] = compact(path.read_text(encoding="utf-8"))
        return cls(statements)

    def __getitem__(self, name: str) -> str:
        try:
            return self._statements[name]
        except KeyError:
            raise QueryNotFound(
                f"no SQL statement named {name!r} (expected sql/{name}.sql)"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._statements)

    def __len__(self) -> int:
        return len(self._statements)


def compact(text: str) -> str:
    """Return the statement without its -- comments, indentation and blank lines.

    Quoted text ('...', "...") is kept as written, a "--" inside it included. Lines stay
    lines, so that the server's error positions and pg_stat_activity remain readable.
    """
    out: list[str] = []
    quote = ""
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if quote:
            out.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "-" and text.startswith("--", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(char)
        i += 1
    lines = (line.strip() for line in "".join(out).splitlines())
    return "\n".join(line for line in lines if line)
