"""The unfiltered first page of a listing runs prepared; filtered and later pages never do.

A prepared statement saves the server parsing and planning the listing on every request,
but one plan would serve every filter combination and cursor badly (service/data/listing.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from service.data.listing import NO_FILTERS, Filters, ListingStore, PageRequest, Position, Sort
from service.data.pool import create_pool
from service.data.queries import Queries
from tests.conftest import make_config


def prepared_listings(pool) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM pg_prepared_statements "
            "WHERE statement LIKE '%FROM tasks%ORDER BY tasks.created_at%'"
        ).fetchone()
    return row["n"]


def test_only_the_unfiltered_first_page_is_prepared(database_url, user_id):
    # One connection, so every page below runs on the session that is inspected.
    config = make_config(database_url, POOL_MIN_SIZE="1", POOL_MAX_SIZE="1")
    queries = Queries.load()
    pool = create_pool(config, queries)
    pool.open(wait=True, timeout=10)
    try:
        store = ListingStore(pool, queries)
        sort = Sort("created_at", descending=False)
        later = PageRequest(sort, NO_FILTERS, 50, after=Position(datetime.now(UTC), uuid4()))
        filtered = PageRequest(sort, Filters(completed=False), 50)
        for request in (later, filtered):
            for _ in range(8):
                store.page(user_id, request)
        assert prepared_listings(pool) == 0
        for _ in range(8):
            store.page(user_id, PageRequest(sort, NO_FILTERS, 50))
        # Behind a transaction-pooling proxy nothing is prepared (PG_PREPARE_THRESHOLD).
        assert prepared_listings(pool) == (0 if config.prepare_threshold is None else 1)
    finally:
        pool.close()
