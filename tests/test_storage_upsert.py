"""Insert-or-ignore, one row and many, on SQLite and PostgreSQL: what is new is written and
reported, what exists is skipped, across batches and with or without RETURNING."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import select

from parley.storage.db import session_scope
from parley.storage.models import Feed
from parley.storage.upsert import insert_ignore, insert_many_ignore


def _feed(n: int) -> dict[str, object]:
    return {"url": f"http://127.0.0.1/{n}.xml", "name": f"Feed {n}"}


def _urls(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return sorted(feed.url for feed in session.exec(select(Feed)))


def test_insert_ignore_says_whether_the_row_was_new(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = insert_ignore(session, Feed, _feed(1), ["url"])
        assert first is not None
        assert insert_ignore(session, Feed, _feed(1), ["url"]) is None
        assert insert_ignore(session, Feed, _feed(2), ["url"]) not in (None, first)
    assert _urls(engine) == [_feed(1)["url"], _feed(2)["url"]]


def test_many_rows_in_batches_report_only_those_inserted(engine: Engine) -> None:
    with session_scope(engine) as session:
        insert_ignore(session, Feed, _feed(3), ["url"])
        rows = [_feed(n) for n in range(7)]
        got = insert_many_ignore(session, Feed, rows, ["url"], returning=("url",), chunk=2)
    assert sorted(url for (url,) in got) == sorted(str(_feed(n)["url"]) for n in range(7) if n != 3)
    assert len(_urls(engine)) == 7


def test_many_rows_without_returning_are_written_and_nothing_is_reported(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert insert_many_ignore(session, Feed, [], ["url"], returning=()) == []
        insert_ignore(session, Feed, _feed(0), ["url"])
        rows = [_feed(n) for n in (0, 1, 2, 1, 3)]  # one stored already, one twice
        assert insert_many_ignore(session, Feed, rows, ["url"], returning=(), chunk=2) == []
    assert _urls(engine) == sorted(str(_feed(n)["url"]) for n in range(4))
