"""Time a JSON Lines backfill: N generated items stored and matched, in batches, resumably.

Runs the dump stage (parley.flows.pipeline.dumps.ingest_dump) without Prefect, with the
bundled topics, into a fresh SQLite file or a throwaway PostgreSQL database, and prints the
items per second of a first run (everything new) and of a second run (everything known).

    .venv/bin/python bench/backfill_dump.py                    # 10,000 items, SQLite
    .venv/bin/python bench/backfill_dump.py --items 2000 --batch 250
    .venv/bin/python bench/backfill_dump.py --database-url postgresql://postgres@127.0.0.1:5432/parley_bench

PostgreSQL: give a throwaway database; parley's tables in it are dropped first and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import SQLModel

from parley.flows.pipeline.cycle import open_runtime
from parley.flows.pipeline.dumps import DumpJob, ingest_dump
from parley.flows.settings import load_settings
from parley.storage.db import make_engine

OUTLETS = ("dnipro-wire.example", "kyiv-herald.example", "odesa-courier.example")


def write_dump(path: Path, items: int) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        for n in range(items):
            outlet = OUTLETS[n % len(OUTLETS)]
            if n % 50 == 0:
                title = f"IAEA: Zaporizhzhia nuclear plant lost off-site power ({n})"
            elif n % 50 == 25:
                title = f"Black Sea grain corridor: ships resume sailing from Odesa ({n})"
            else:
                title = f"City council {n} approves spending on schools and road repairs"
            line = {"feed": f"https://{outlet}/feed.xml", "feed_name": outlet, "guid": f"i-{n}",
                    "title": title, "summary": "The vote followed a long debate on the budget.",
                    "link": f"https://{outlet}/news/{n}",
                    "published": (start + timedelta(minutes=4 * n)).isoformat()}  # fmt: skip
            out.write(json.dumps(line) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dump = folder / "bench.jsonl"
        write_dump(dump, args.items)
        url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
        engine = make_engine(url)
        SQLModel.metadata.drop_all(engine)
        engine.dispose()
        feeds = folder / "feeds.yaml"
        feeds.write_text("feeds: []\n", encoding="utf-8")
        runtime = open_runtime(
            load_settings(database_url=url, feeds_file=feeds, channels_file=None),
            queue_alerts=False,
        )
        print(
            f"| run | items | batch | seconds | items/s | new | matches |  ({engine.url.get_backend_name()})"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label in ("first (all new)", "again (all known)"):
            started = time.perf_counter()
            job = DumpJob(dump, batch_size=args.batch, restart=True)
            outcome = asyncio.run(ingest_dump(runtime, job, []))
            seconds = time.perf_counter() - started
            print(f"| {label} | {args.items:,} | {args.batch} | {seconds:.2f} | "
                  f"{args.items / seconds:,.0f} | {outcome.new:,} | {len(outcome.matches)} |")  # fmt: skip
        SQLModel.metadata.drop_all(runtime.engine)
        runtime.engine.dispose()


if __name__ == "__main__":
    main()
