"""The SQL catalogue: every statement lives in sql/<name>.sql and is loaded once by name.

Request-path statements sit at the top of sql/; the background worker's cross-user
statements sit in sql/jobs/ and load as "jobs/<name>", so that a job's statement is never
mistaken for one that serves a request (tests/test_sql_user_scope.py holds each folder to
its own rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from service.core.config import SQL_DIR

# Subfolders of sql/ whose statements load as "<folder>/<name>".
SUBFOLDERS = ("jobs",)


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
            path.stem: path.read_text(encoding="utf-8").strip()
            for path in sorted(directory.glob("*.sql"))
        }
        for folder in SUBFOLDERS:
            for path in sorted((directory / folder).glob("*.sql")):
                statements[f"{folder}/{path.stem}"] = path.read_text(encoding="utf-8").strip()
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
