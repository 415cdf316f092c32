"""Let a request run several DAO calls in one transaction on one pooled connection.

The default is autocommit on a connection borrowed per statement, so a single-statement
request is one round trip. Code that needs atomicity across statements (the
Idempotency-Key middleware: claim the key, write, store the answer) binds a connection
in an open transaction for the rest of the request, and every DAO call made meanwhile
in the same thread (context) runs on it, without the resources having to know.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

import psycopg
from psycopg_pool import ConnectionPool

_bound: ContextVar[psycopg.Connection | None] = ContextVar("tasks_bound_connection", default=None)


@contextmanager
def connection(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """Yield the connection bound to this request, or borrow one from `pool` for the block."""
    conn = _bound.get()
    if conn is not None:
        yield conn
        return
    with pool.connection() as conn:
        yield conn


def bind(conn: psycopg.Connection) -> Token[psycopg.Connection | None]:
    """Route this context's DAO calls to `conn` until `unbind` is called with the token."""
    return _bound.set(conn)


def unbind(token: Token[psycopg.Connection | None]) -> None:
    """Undo `bind`: DAO calls borrow pooled connections again."""
    _bound.reset(token)


def bound() -> psycopg.Connection | None:
    """Return the connection bound to this context, if any."""
    return _bound.get()


@contextmanager
def transaction(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """Yield a connection in a transaction for the block, bound so DAO calls inside join it.

    Inside a request's bound transaction (Idempotency-Key) the block is a savepoint of it,
    so the request's commit or rollback decides; otherwise a pooled connection runs the block
    as a transaction of its own, committed at the end of the block.
    """
    conn = _bound.get()
    if conn is not None:
        with conn.transaction():
            yield conn
        return
    with pool.connection() as conn, conn.transaction():
        token = bind(conn)
        try:
            yield conn
        finally:
            unbind(token)
