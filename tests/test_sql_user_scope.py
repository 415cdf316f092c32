"""Invariants over sql/: every statement on user data binds user_id; parameters are named."""

from __future__ import annotations

import re

import pytest

from service.core.config import PROJECT_ROOT, SQL_DIR
from service.data.queries import Queries

QUERIES = Queries.load()
USER_TABLES = (
    "tasks",
    "idempotency_keys",
    "webhooks",
    "events",
    "webhook_deliveries",
    "webhook_delivery_attempts",
    "lists",
    "user_settings",
    "task_completions",
)
# The background worker's cross-user statements (sql/jobs/, loaded as "jobs/<name>") are
# exempt from the request path's user_id rule, and held to the worker's own rules instead.
REQUEST_PATH = sorted(name for name in QUERIES if not name.startswith("jobs/"))
JOBS = sorted(name for name in QUERIES if name.startswith("jobs/"))


# The change-counter tick CTE every write on tasks and lists starts with.
TICK = re.compile(r"\btick AS \(\s*INSERT INTO change_counters\b.*?RETURNING cc\.seq\s*\),?", re.S)


def strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*", "", text)


def touches_user_data(statement: str) -> bool:
    return any(re.search(rf"\b{table}\b", statement, re.IGNORECASE) for table in USER_TABLES)


def test_sql_directory_is_not_empty():
    assert len(QUERIES) >= 6


@pytest.mark.parametrize("name", REQUEST_PATH)
def test_statement_on_user_data_binds_user_id(name):
    statement = strip_comments(QUERIES[name])
    if not touches_user_data(statement):
        pytest.skip("touches no user table")
    inserts = list(re.finditer(r"\bINSERT\s+INTO\b", statement, re.IGNORECASE))
    for insert in inserts:
        # Each INSERT binds user_id in what it inserts: its VALUES, or the SELECT feeding it
        # (up to its RETURNING or ON CONFLICT).
        rest = statement[insert.end() :]
        end = re.search(r"\bRETURNING\b|\bON\s+CONFLICT\b", rest, re.I)
        assert "%(user_id)s" in rest[: end.start() if end else None], (
            f"{name}: INSERT must bind user_id in VALUES or its SELECT"
        )
    # The change-counter tick (docs/sync.md) is an INSERT of the user's counter row, bound
    # above; what the statement does besides is checked without it.
    statement = re.sub(TICK, "", statement)
    statement = re.sub(r"^\s*WITH\s+(?=INSERT\b)", "", statement)
    if inserts and re.match(r"\s*INSERT\b", statement, re.IGNORECASE):
        return
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


def job_statement_problem(statement: str) -> str | None:
    """Return why a job statement breaks the worker's rules, or None.

    A job statement either reads across users (and then locks and writes nothing: on Citus a
    multi-shard statement cannot lock rows), or works on one user's rows (binds
    user_id = %(user_id)s: a single-shard statement). A statement that claims work, one that
    writes rows picked by a subquery rather than by their key, locks them with
    FOR UPDATE SKIP LOCKED (never waits for another worker). Every FOR UPDATE skips locked rows.
    """
    text = strip_comments(statement)
    writes = re.search(r"\b(INSERT|UPDATE|DELETE)\b", text, re.I) is not None
    locks = re.search(r"\bFOR\s+UPDATE\b", text, re.I) is not None
    one_user = re.search(r"\buser_id\s*=\s*%\(user_id\)s", text) is not None
    if locks and not re.search(r"\bFOR\s+UPDATE(\s+OF\s+\w+)?\s+SKIP\s+LOCKED\b", text, re.I):
        return "every FOR UPDATE in a job must be FOR UPDATE SKIP LOCKED"
    if not one_user and (writes or locks):
        return "a statement across users must be read-only (claim per user_id instead)"
    claims = re.search(
        r"\b(IN|FROM|USING)\s*\(?\s*(WITH\b|SELECT\b)|\bWITH\s+\w+\s+AS\s*\(\s*SELECT\b", text, re.I
    )
    if writes and claims and not locks:
        return "a job that picks rows to change must claim them with FOR UPDATE SKIP LOCKED"
    return None


@pytest.mark.parametrize("name", JOBS)
def test_job_statement_claims_with_skip_locked(name):
    problem = job_statement_problem(QUERIES[name])
    assert problem is None, f"{name}: {problem}"


def test_the_job_check_catches_a_claim_without_skip_locked():
    waits = (
        "WITH due AS (SELECT id FROM webhook_deliveries WHERE user_id = %(user_id)s FOR UPDATE) "
        "UPDATE webhook_deliveries SET attempt = 1 WHERE user_id = %(user_id)s"
    )
    unlocked = (
        "DELETE FROM idempotency_keys WHERE user_id = %(user_id)s "
        "AND key IN (SELECT key FROM idempotency_keys WHERE user_id = %(user_id)s LIMIT 5)"
    )
    across = "DELETE FROM idempotency_keys WHERE created_at < now() - interval '1 day'"
    assert "SKIP LOCKED" in job_statement_problem(waits)
    assert "claim them" in job_statement_problem(unlocked)
    assert "read-only" in job_statement_problem(across)
    assert job_statement_problem("SELECT DISTINCT user_id FROM events LIMIT 5") is None


def test_there_are_job_statements():
    assert JOBS and all("/" in name for name in JOBS)


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
