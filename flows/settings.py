"""The one place that reads parley's configuration from the environment.

Every option has a default, a type and a description here; the README's settings table is
checked against this class by ``tests/test_docs.py``. Values come from ``PARLEY_*`` environment
variables or a ``.env`` file in the working directory. Nothing is read at import time: call
:func:`load_settings`.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_CRON_FIELD = re.compile(r"[0-9A-Za-z*?/,#-]+")
SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"


class Settings(BaseSettings):
    """parley's settings; each field is the environment variable ``PARLEY_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="PARLEY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: str = Field(
        default="sqlite:///data/parley.db",
        description="SQLAlchemy URL of the store: a SQLite file (WAL mode) or postgresql+psycopg://…",
    )
    feeds_file: Path = Field(
        default=SEEDS_DIR / "feeds.yaml", description="YAML list of feeds to watch."
    )
    topics_file: Path = Field(
        default=SEEDS_DIR / "topics.yaml", description="YAML definitions of the tracked topics."
    )
    model_file: Path | None = Field(
        default=SEEDS_DIR / "relevance" / "model.json",
        description="Learned relevance weights written by `parley topics train`; empty: the topic rules alone.",
    )
    channels_file: Path | None = Field(
        default=None,
        description="YAML list of alert channels (apprise URLs with tags); unset: print alerts to the terminal.",
    )
    fetch_timeout: float = Field(
        default=20.0,
        gt=0,
        description="Seconds allowed for one feed request (connect, read, total).",
    )
    fetch_max_bytes: int = Field(
        default=10_000_000, gt=0, description="Largest feed body accepted, in bytes (decompressed)."
    )
    fetch_max_redirects: int = Field(
        default=5, ge=0, description="Redirects followed before a fetch fails."
    )
    fetch_concurrency: int = Field(
        default=64, gt=0, description="Feeds fetched at the same time in one cycle."
    )
    fetch_per_host: int = Field(
        default=2, gt=0, description="Requests at the same time to one host."
    )
    parse_workers: int = Field(
        default=0,
        ge=0,
        description="Processes that parse feed bodies in a cycle; 0: one per CPU, 1: no pool.",
    )
    user_agent: str = Field(
        default="parley/0.1 (news monitor)", description="User-Agent sent with every request."
    )
    feed_failure_threshold: int = Field(
        default=3, gt=0, description="Failures in a row after which a feed counts as unhealthy."
    )
    corroboration: int = Field(
        default=3,
        ge=2,
        description="Independent outlets after which a story counts as corroborated.",
    )
    deliver_max_attempts: int = Field(
        default=8, gt=0, description="Send attempts before an outbox row is marked dead."
    )
    deliver_timeout: float = Field(
        default=30.0, gt=0, description="Seconds allowed for one channel send."
    )
    timezone: str = Field(
        default="UTC", description="IANA zone in which times are shown in alerts and reports."
    )
    monitor_interval: int = Field(
        default=600, ge=30, description="Seconds between monitor runs under `parley serve`."
    )
    state_dir: Path = Field(
        default="data",
        validate_default=True,
        description="Folder for parley's own state (outages.json: start-up outages already alerted).",
    )
    shards: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Shards a monitor cycle is split into, by feed host; above 1 each shard "
        "runs as its own flow run of the monitor-shard deployment on the work pool.",
    )
    shard_timeout: int = Field(
        default=900,
        gt=0,
        description="Seconds a monitor run waits for its shard runs before cancelling the rest.",
    )
    digest_cron: str = Field(
        default="0 7 * * *",
        description="Cron schedule (in PARLEY_TIMEZONE) of the digest under `parley serve`.",
    )

    @field_validator("digest_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(f"not a cron schedule: {value!r} (e.g. '0 7 * * *')")
        return value

    @field_validator("model_file", mode="before")
    @classmethod
    def _no_model(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and ``.env``) now; keyword overrides win."""
    return Settings(**overrides)  # type: ignore[arg-type]
