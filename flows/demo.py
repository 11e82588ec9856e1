"""`parley demo`: the bundled sample feeds served on loopback, one monitor cycle per snapshot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from parley.flows.ingest.localserver import FeedServer
from parley.flows.monitor import monitor
from parley.flows.pipeline.report import CycleReport
from parley.flows.settings import SEEDS_DIR
from parley.flows.yamlfile import ConfigError, read_yaml

DEMO_DIR = SEEDS_DIR / "demo"


@dataclass(frozen=True)
class Step:
    dir: str
    say: str


def load_steps(path: Path) -> list[Step]:
    document = read_yaml(path)
    if not isinstance(document, list) or not document:
        raise ConfigError(f"{path}: expected a list of steps")
    steps = []
    for item in document:
        if not isinstance(item, dict) or "dir" not in item:
            raise ConfigError(f"{path}: each step needs a 'dir'")
        steps.append(Step(dir=str(item["dir"]), say=str(item.get("say", ""))))
    return steps


def publish_step(server: FeedServer, folder: Path) -> list[str]:
    """Serve the files of one step; files not in it keep their previous answer (→ 304)."""
    changed = []
    for path in sorted(folder.glob("*.xml")):
        body = path.read_bytes()
        kind = "atom" if b"<feed" in body[:500] else "rss"
        server.set(f"/{path.name}", body, content_type=f"application/{kind}+xml; charset=utf-8")
        changed.append(path.name)
    return changed


def demo_overrides(data_dir: Path) -> dict[str, str | None]:
    """The demo's embedded defaults: its own SQLite file, terminal alerts only."""
    return {"database_url": f"sqlite:///{data_dir / 'demo.db'}", "channels_file": None}


def fresh_database(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"demo.db{suffix}").unlink(missing_ok=True)


async def _steps(console: Console, server: FeedServer, data_dir: Path, pause: float) -> None:
    steps = load_steps(DEMO_DIR / "steps.yaml")
    for number, step in enumerate(steps, start=1):
        changed = publish_step(server, DEMO_DIR / "steps" / step.dir)
        console.rule(f"[bold]step {number}/{len(steps)}: {step.dir}[/]")
        console.print(step.say)
        console.print(f"[dim]feeds changed on the server: {', '.join(changed) or 'none'}[/]")
        report: CycleReport = await monitor(
            feeds_file=str(DEMO_DIR / "feeds.yaml"),
            base_url=server.base_url,
            force=True,
            overrides=demo_overrides(data_dir),
        )
        console.print(f"[green]{report.summary_line()}[/]")
        if pause and number < len(steps):
            await asyncio.sleep(pause)


def run_demo(console: Console, *, pause: float = 0.0, data_dir: Path = Path("data")) -> None:
    """Run every demo step against a fresh demo database; alerts print to the terminal."""
    fresh_database(data_dir)
    console.print("[bold]parley demo[/]: sample feeds on a local server, alerts below.")
    with FeedServer() as server:
        asyncio.run(_steps(console, server, data_dir, pause))
    console.print(f"Stored in {data_dir / 'demo.db'}. Try: PARLEY_DATABASE_URL=sqlite:///"
                  f"{data_dir / 'demo.db'} parley feeds")  # fmt: skip
