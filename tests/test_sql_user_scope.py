"""Invariants over sql/: every statement on user data binds user_id; parameters are named."""

from __future__ import annotations

import re

import pytest

from service.core.config import PROJECT_ROOT, SQL_DIR
from service.data.queries import Queries

QUERIES = Queries.load()
USER_TABLES = ("tasks", "idempotency_keys")


def strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*", "", text)


def touches_user_data(statement: str) -> bool:
    return any(re.search(rf"\b{table}\b", statement, re.IGNORECASE) for table in USER_TABLES)


def test_sql_directory_is_not_empty():
    assert len(QUERIES) >= 6


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_statement_on_user_data_binds_user_id(name):
    statement = strip_comments(QUERIES[name])
    if not touches_user_data(statement):
        pytest.skip("touches no user table")
    if re.match(r"\s*INSERT\b", statement, re.IGNORECASE):
        values = re.search(
            r"\bVALUES\s*\((.*?)\)\s*(RETURNING|ON\s+CONFLICT|$)", statement, re.S | re.I
        )
        assert values and "%(user_id)s" in values.group(1), (
            f"{name}: INSERT must bind user_id in VALUES"
        )
        return
    if re.search(r"\bINSERT\s+INTO\b", statement, re.IGNORECASE):
        # An INSERT inside a WITH statement must bind user_id in its VALUES too.
        values = re.search(
            r"\bVALUES\s*\((.*?)\)\s*(RETURNING|ON\s+CONFLICT|$)", statement, re.S | re.I
        )
        assert values and "%(user_id)s" in values.group(1), (
            f"{name}: INSERT must bind user_id in VALUES"
        )
    where = re.search(r"\bWHERE\b(.*)", statement, re.S | re.I)
    assert where, f"{name}: a statement on user data needs a WHERE"
    assert re.search(r"\buser_id\s*=\s*%\(user_id\)s", where.group(1)), (
        f"{name}: WHERE must filter on user_id = %(user_id)s"
    )


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_statement_uses_named_parameters_only(name):
    statement = strip_comments(QUERIES[name])
    assert not re.search(r"%s\b|\$\d", statement), f"{name}: use %(name)s parameters"
    assert not re.search(r"\{[a-z_]*\}", statement), f"{name}: no Python format placeholders"


def test_every_sql_file_is_used_by_the_code():
    source = "\n".join(p.read_text() for p in (PROJECT_ROOT / "service").rglob("*.py"))
    unused = [name for name in QUERIES if f'"{name}"' not in source]
    assert not unused, f"SQL files no code loads: {unused}"


def test_the_check_catches_a_statement_without_user_id():
    bad = "SELECT * FROM tasks WHERE id = %(task_id)s"
    where = re.search(r"\bWHERE\b(.*)", bad, re.S | re.I)
    assert touches_user_data(bad)
    assert not re.search(r"\buser_id\s*=\s*%\(user_id\)s", where.group(1))


def test_sql_dir_is_the_project_sql_dir():
    assert SQL_DIR.name == "sql" and (SQL_DIR / "task_get.sql").is_file()
