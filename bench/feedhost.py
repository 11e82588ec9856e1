"""The bench's feed servers and generated feeds, in a process of their own.

A feed server in the measured process would take the GIL and memory from the cycle being
measured: serving 200 answers in Python threads costs about as much CPU as fetching them, and
the generated bodies (~11 MB for 200 × 50 items) would count in its memory. Real feed servers
are other machines, so the bench keeps them in a child process: K `FeedServer`s on 127.0.0.1 …
127.0.0.K, the feeds generated there from the seed, served, mutated and delayed on command.
The parent gets URLs, names and item counts, never the bodies.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_ITEM_TAG = re.compile(rb"<(?:item|entry)[\s>]")
START_TIMEOUT = 120.0  # seconds for the child to import, generate and start serving
ANSWER_TIMEOUT = 60.0  # seconds for one command


@dataclass(frozen=True)
class FeedInfo:
    """What the measured process may know of a generated feed."""

    path: str
    url: str
    name: str
    language: str
    kind: str  # "rss" | "atom"


@dataclass(frozen=True)
class Generated:
    feeds: list[FeedInfo]
    mutated: list[str]  # paths of the feeds the "mutated" phase changes
    meta: dict[str, Any]  # rss, atom, bytes, planted, gen_seconds


class FeedHost:
    """Parent side: start the child, send it commands, read its answers."""

    def __init__(self, hosts: int, *, nagle: bool, feeds: int, items: int, seed: int,
                 mutated_share: float) -> None:  # fmt: skip
        self._options = {"hosts": hosts, "nagle": nagle, "feeds": feeds, "items": items,
                         "seed": seed, "mutated_share": mutated_share}  # fmt: skip
        self._conn: Connection | None = None
        self._process: Any = None
        self.base_url = ""
        self.generated = Generated([], [], {})
        self._urls: dict[str, str] = {}

    def __enter__(self) -> FeedHost:
        context = multiprocessing.get_context("spawn")  # no copy of this process's threads
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_child_main, args=(child, self._options), name="bench-feed-host", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        started = self._receive(START_TIMEOUT)
        self.base_url = started["base_url"]
        feeds = [FeedInfo(**feed) for feed in started["feeds"]]
        self.generated = Generated(feeds, started["mutated"], started["meta"])
        self._urls = {feed.path: feed.url for feed in feeds}
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
            self._conn.close()
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)

    @property
    def pid(self) -> int:
        return int(self._process.pid)

    def url(self, path: str) -> str:
        """Generated feeds are spread over the hosts; every other path is on the first."""
        return self._urls.get(path) or self.base_url + path

    def _call(self, *command: Any) -> Any:
        assert self._conn is not None, "FeedHost is not started"
        self._conn.send(command)
        return self._receive(ANSWER_TIMEOUT)

    def _receive(self, timeout: float) -> Any:
        assert self._conn is not None
        if not self._conn.poll(timeout):
            raise RuntimeError(f"bench feed host did not answer within {timeout:.0f} s")
        kind, value = self._conn.recv()
        if kind == "error":
            raise RuntimeError(f"bench feed host: {value}")
        return value

    # Each command returns {absolute URL: items in the body now served} for what it set.
    def serve_original(self, delay: float) -> dict[str, int]:
        return dict(self._call("original", delay))

    def serve_mutated(self, delay: float) -> dict[str, int]:
        return dict(self._call("mutated", delay))

    def delay_all(self, delay: float) -> None:
        """Serve the current bodies of the generated feeds (same validators) with ``delay``."""
        self._call("delay", delay)

    def set(self, path: str, body: bytes, content_type: str, delay: float) -> dict[str, int]:
        return dict(self._call("set", path, body, content_type, delay))

    def connections(self) -> int:
        """TCP connections the feed servers have accepted so far."""
        return int(self._call("connections"))


# ---------------------------------------------------------------------------------------------
# The child


class _Child:
    def __init__(self, options: dict[str, Any]) -> None:
        import time

        sys.path.insert(0, str(HERE))
        import feedgen

        from parley.flows.ingest import localserver

        # FeedServer writes an answer's headers and body in two writes; with Nagle on, the
        # body waits for the client's delayed ACK (~40 ms on Linux). Real feed servers (nginx:
        # tcp_nodelay on) do not, so TCP_NODELAY is set unless --nagle asks for the server as
        # it ships.
        localserver._Handler.disable_nagle_algorithm = not options["nagle"]
        self.connections = 0
        original_setup = localserver._Handler.setup

        def counting_setup(handler: Any) -> None:
            self.connections += 1  # one handler setup per accepted connection
            original_setup(handler)

        localserver._Handler.setup = counting_setup  # type: ignore[method-assign]

        import random

        started = time.perf_counter()
        self.gen = feedgen.generate(options["feeds"], options["items"], seed=options["seed"])
        self.bodies = {feed.path: feed.render() for feed in self.gen}
        rng = random.Random(options["seed"] + 1)
        share = max(1, round(len(self.gen) * options["mutated_share"]))
        chosen = sorted(rng.sample(range(len(self.gen)), share))
        self.mutated = {self.gen[i].path: feedgen.mutate(self.gen[i], rng) for i in chosen}
        self.meta = {
            "rss": sum(f.kind == "rss" for f in self.gen),
            "atom": sum(f.kind == "atom" for f in self.gen),
            "bytes": sum(len(b) for b in self.bodies.values()),
            "planted": sum(1 for f in self.gen for i in f.items if i.topic),
            "gen_seconds": time.perf_counter() - started,
        }
        self.servers = [localserver.FeedServer(host=f"127.0.0.{k + 1}")
                        for k in range(options["hosts"])]  # fmt: skip
        self.home = {feed.path: i % len(self.servers) for i, feed in enumerate(self.gen)}
        self.served: dict[str, tuple[bytes, str]] = {}

    def start(self) -> dict[str, Any]:
        for server in self.servers:
            server.start()
        feeds = [{"path": f.path, "url": self._url(f.path), "name": f.name,
                  "language": f.language, "kind": f.kind} for f in self.gen]  # fmt: skip
        return {"base_url": str(self.servers[0].base_url), "feeds": feeds,
                "mutated": list(self.mutated), "meta": self.meta}  # fmt: skip

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def _url(self, path: str) -> str:
        return str(self.servers[self.home.get(path, 0)].url(path))

    def set(self, path: str, body: bytes, content_type: str, delay: float) -> dict[str, int]:
        self.servers[self.home.get(path, 0)].set(path, body, content_type=content_type,
                                                 delay=delay)  # fmt: skip
        self.served[path] = (body, content_type)
        return {self._url(path): len(_ITEM_TAG.findall(body))}

    def run(self, command: Sequence[Any]) -> Any:
        name, *args = command
        if name == "set":
            return self.set(*args)
        if name == "original":
            return self._publish({f.path: (self.bodies[f.path], f.content_type)
                                  for f in self.gen}, *args)  # fmt: skip
        if name == "mutated":
            return self._publish({path: (feed.render(), feed.content_type)
                                  for path, feed in self.mutated.items()}, *args)  # fmt: skip
        if name == "delay":
            return self._publish({f.path: self.served[f.path] for f in self.gen}, *args)
        if name == "connections":
            return self.connections
        raise ValueError(f"unknown command {name!r}")

    def _publish(self, bodies: dict[str, tuple[bytes, str]], delay: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for path, (body, content_type) in bodies.items():
            counts.update(self.set(path, body, content_type, delay))
        return counts


def _child_main(conn: Connection, options: dict[str, Any]) -> None:
    try:
        child = _Child(options)
        conn.send(("ok", child.start()))
    except Exception as exc:  # the parent prints it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    try:
        while True:
            try:
                command = conn.recv()
            except EOFError:  # the parent is gone
                return
            if command[0] == "stop":
                return
            try:
                conn.send(("ok", child.run(command)))
            except Exception as exc:
                conn.send(("error", f"{command[0]}: {type(exc).__name__}: {exc}"))
    finally:
        child.stop()
