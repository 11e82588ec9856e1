"""The README is executable: its settings table, YAML examples and commands match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from parley.alerts.channel_file import load_channels
from parley.flows.cli import app
from parley.flows.ingest.catalog import load_feeds
from parley.flows.settings import Settings
from parley.flows.topics.load import parse_topics

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")


def _settings_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `(PARLEY_[A-Z_]+)` \| (.+?) \| .+ \|$", TEXT, flags=re.MULTILINE)
    return dict(rows)


def _yaml_blocks(first_key: str) -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", TEXT, flags=re.DOTALL)
    return [b for b in blocks if b.startswith(f"{first_key}:")]


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(_settings_rows())
    actual = {f"PARLEY_{name.upper()}" for name in Settings.model_fields}
    assert documented == actual


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_documented_default_matches_the_code(name: str) -> None:
    shown = _settings_rows()[f"PARLEY_{name.upper()}"]
    default = Settings.model_fields[name].default
    if default is None:
        assert shown == "unset"
    elif isinstance(default, Path):
        assert shown == f"`{default.relative_to(README.parent)}`"
    else:
        assert shown == f"`{default}`"


def test_feeds_example_loads(tmp_path: Path) -> None:
    (block,) = _yaml_blocks("feeds")
    path = tmp_path / "feeds.yaml"
    path.write_text(block, encoding="utf-8")
    assert [f.tier for f in load_feeds(path)] == ["primary"]


def test_topics_example_loads_and_matches() -> None:
    """The README's new topic, added to the seed file as a user would, uses its shared sets."""
    from parley.flows.topics.match import TopicMatcher

    (block,) = _yaml_blocks("topics")
    assert block.startswith("topics:\n")
    seed = (README.parent / "seeds" / "topics.yaml").read_text(encoding="utf-8")
    topics = parse_topics(seed.rstrip("\n") + "\n" + block.removeprefix("topics:\n"), "README.md")
    assert topics[-1].key == "children"
    matcher = TopicMatcher(topics)

    def keys(title: str, summary: str = "") -> list[str]:
        return [m.topic_key for m in matcher.match(title, summary) if m.topic_key == "children"]

    assert keys("Kyiv says Russia must return deported children before any deal") == ["children"]
    assert keys("Україна повернула ще 12 дітей, вивезених Росією") == ["children"]
    assert keys("Москва заявила, что вернула детей в Киев") == ["children"]
    assert keys("Children return to school in Lviv after the holidays") == []  # no war named
    assert keys("Діти повернулися з дитячого табору в Карпатах", "Україна") == []  # vetoed
    assert keys("Deported children from a summer camp in Crimea returned to Ukraine") == [
        "children"
    ]  # unless


def test_channels_example_loads_with_its_secret_masked(tmp_path: Path) -> None:
    (block,) = _yaml_blocks("channels")
    path = tmp_path / "channels.yaml"
    path.write_text(block, encoding="utf-8")
    channels = load_channels(path, {"PARLEY_SMTP_PASSWORD": "s3cret-pass"})
    assert [c.name for c in channels] == ["desk-email", "archive"]
    assert all("s3cret-pass" not in c.safe_url for c in channels)


def test_every_command_in_the_readme_exists() -> None:
    group = typer.main.get_group(app)
    names = set(group.commands)
    shell = "".join(re.findall(r"```sh\n(.*?)```", TEXT, flags=re.DOTALL))
    used = set(re.findall(r"^parley ([a-z]+)", shell, flags=re.MULTILINE))
    assert used, "the README shows no parley command"
    assert used <= names, f"README names commands the CLI lacks: {used - names}"


DEPLOY = README.parent / "deploy"


def test_env_example_lists_every_setting() -> None:
    text = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?(PARLEY_[A-Z_]+)=", text, flags=re.MULTILINE))
    listed |= {"PARLEY_DATABASE_URL"} if "PARLEY_DATABASE_URL is set by" in text else set()
    assert {f"PARLEY_{name.upper()}" for name in Settings.model_fields} <= listed


def test_prefect_yaml_entrypoints_are_the_flows() -> None:
    import importlib

    import yaml
    from prefect.flows import Flow

    document = yaml.safe_load((DEPLOY / "prefect.yaml").read_text(encoding="utf-8"))
    names = {d["name"]: d["entrypoint"] for d in document["deployments"]}
    assert set(names) == {"monitor", "monitor-shard", "deliver", "digest", "backfill"}
    for name, entrypoint in names.items():
        path, function = entrypoint.split(":")
        assert (README.parent / path).is_file()
        module = importlib.import_module("parley." + path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, function)
        assert isinstance(flow, Flow)
        assert flow.name == name
