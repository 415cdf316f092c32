"""The SQL catalogue: statements load by name, compacted, and psycopg caches their conversion."""

from __future__ import annotations

import re

import psycopg
import psycopg._queries as psycopg_queries
import pytest

from service.data.queries import CACHED_STATEMENT_LENGTH, Queries, compact

QUERIES = Queries.load()


def test_comments_indentation_and_blank_lines_go_but_quoted_text_stays():
    text = """
    -- a comment line
    SELECT 'a -- b' AS dashes,  -- a trailing comment
           "odd--name", 'it''s'

    FROM t  -- the end
    """
    assert compact(text) == "SELECT 'a -- b' AS dashes,\n\"odd--name\", 'it''s'\nFROM t"


def test_every_statement_fits_psycopgs_conversion_cache():
    # Each execute of a longer one would parse its placeholders again (tens to hundreds of
    # microseconds of CPU per request): see service/data/queries.py.
    assert psycopg_queries.MAX_CACHED_STATEMENT_LENGTH >= CACHED_STATEMENT_LENGTH
    too_long = {
        name: len(text.encode())
        for name, text in QUERIES.items()
        if len(text.encode()) > psycopg_queries.MAX_CACHED_STATEMENT_LENGTH
    }
    assert too_long == {}
    # And the cache holds the whole catalogue.
    assert psycopg_queries._query2pg.cache_parameters()["maxsize"] >= len(QUERIES)


@pytest.mark.parametrize("name", ["task_update", "task_toggle_flat"])
def test_a_long_statement_is_converted_once_then_taken_from_the_cache(db, name):
    text = QUERIES[name]
    params = dict.fromkeys(re.findall(r"%\((\w+)\)s", text))
    query = psycopg_queries.PostgresQuery(psycopg.adapt.Transformer(db))
    query.convert(text, params)
    before = psycopg_queries._query2pg.cache_info().hits
    query.convert(text, params)
    assert psycopg_queries._query2pg.cache_info().hits == before + 1
