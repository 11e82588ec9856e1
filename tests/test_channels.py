"""Channel files: loading, ${VAR} secrets, validation errors, masking."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
import yaml

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import Channel, ChannelError

SEED = Path(__file__).resolve().parents[1] / "seeds" / "channels.example.yaml"
SECRET = "Zq7-very-secret-9Xw"
SEED_ENV = {
    "PARLEY_WEBHOOK_TOKEN": "dummy-webhook-token",
    "PARLEY_SMTP_PASSWORD": "dummy-smtp-password",
    "PARLEY_SLACK_TOKENS": "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    "PARLEY_TELEGRAM_BOT_TOKEN": "123456789:ABCdefGhIJKlmnoPQRsTUVwxyZ",
    "PARLEY_MATRIX_PASSWORD": "dummy-matrix-password",
    "PARLEY_MQTT_PASSWORD": "dummy-mqtt-password",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_no_secret(*texts: str, secret: str = SECRET) -> None:
    for text in texts:
        assert secret not in text


def test_no_file_gives_the_console_channel() -> None:
    [channel] = load_channels(None, {})
    assert (channel.name, channel.url, channel.safe_url) == ("console", "console://", "console://")
    assert channel.tags == frozenset()
    assert channel.min_severity == "low"


def test_loads_names_tags_and_severity(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
channels:
  - name: terminal
    url: console://
  - name: file
    url: jsonl:///var/tmp/parley/alerts.jsonl
    tags: [znpp, black-sea]
    min_severity: high
""",
    )
    terminal, file = load_channels(path, {})
    assert terminal.name == "terminal"
    assert file.tags == frozenset({"znpp", "black-sea"})
    assert file.min_severity == "high"
    assert file.safe_url == "jsonl:///var/tmp/parley/alerts.jsonl"


def test_wants_filters_by_topic_and_severity() -> None:
    everything = Channel("all", "console://", "console://", frozenset())
    urgent = Channel("znpp", "console://", "console://", frozenset({"znpp"}), "high")
    assert everything.wants("black-sea", "low")
    assert urgent.wants("znpp", "high")
    assert urgent.wants("znpp", "critical")
    assert not urgent.wants("znpp", "medium")
    assert not urgent.wants("black-sea", "critical")
    with pytest.raises(ValueError, match="unknown severity"):
        urgent.wants("znpp", "urgent")


def test_env_secret_is_expanded_and_masked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
channels:
  - name: desk-email
    url: mailtos://parley:${SMTP_PASSWORD}@smtp.example.org?to=desk@example.org
  - name: hook
    url: json://hooks.example.org/parley?+X-Token=${HOOK_TOKEN}
""",
    )
    mail, hook = load_channels(path, {"SMTP_PASSWORD": SECRET, "HOOK_TOKEN": SECRET + "h"})
    assert SECRET in mail.url
    assert SECRET + "h" in hook.url
    assert mail.safe_url.startswith("mailtos://parley:")
    assert "smtp.example.org" in mail.safe_url
    assert "hooks.example.org/parley" in hook.safe_url
    assert "***" in hook.safe_url
    assert_no_secret(mail.safe_url, hook.safe_url, repr(mail), repr(hook), str([mail, hook]))


def test_literal_header_value_is_masked_in_safe_url(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"channels:\n  - name: hook\n    url: json://127.0.0.1:8080/x?+Authorization={SECRET}\n",
    )
    [hook] = load_channels(path, {})
    assert_no_secret(hook.safe_url)
    assert "Authorization=***" in hook.safe_url


def test_missing_variable_names_channel_variable_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """channels:
  - name: terminal
    url: console://
  - name: desk-email
    url: mailtos://parley:${SMTP_PASSWORD}@smtp.example.org?to=desk@example.org
""",
    )
    with pytest.raises(ChannelError) as info:
        load_channels(path, {"OTHER": SECRET})
    message = str(info.value)
    assert str(path) in message
    assert "line 4" in message
    assert "'desk-email'" in message
    assert "SMTP_PASSWORD" in message
    assert info.value.channel == "desk-email"
    assert info.value.line == 4


def test_empty_variable_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  - name: t\n    url: json://h.example.org/${TOKEN}\n")
    with pytest.raises(ChannelError, match="TOKEN is empty"):
        load_channels(path, {"TOKEN": ""})


def test_unknown_scheme_names_channel_not_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "channels:\n  - name: pager\n    url: pagerzz://ops:${PW}@pager.example.org/x\n",
    )
    with pytest.raises(ChannelError) as info:
        load_channels(path, {"PW": SECRET})
    assert "'pager'" in str(info.value)
    assert "pagerzz://" in str(info.value)
    assert_no_secret(str(info.value))


def test_malformed_url_shows_only_masked_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="apprise")
    path = write(tmp_path, "channels:\n  - name: tg\n    url: tgram://${BOT}/\n")
    with pytest.raises(ChannelError) as info:
        load_channels(path, {"BOT": SECRET})
    message = str(info.value)
    assert "'tg'" in message
    assert "tgram://***" in message
    assert_no_secret(message, caplog.text)


def test_literal_token_in_rejected_url_stays_out_of_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="apprise")
    path = write(tmp_path, f"channels:\n  - name: slack\n    url: slack://{SECRET}/only-two\n")
    with pytest.raises(ChannelError) as info:
        load_channels(path, {})
    assert_no_secret(str(info.value), caplog.text)


def test_not_a_url(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  - name: x\n    url: just-words\n")
    with pytest.raises(ChannelError, match="not an apprise URL"):
        load_channels(path, {})


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""channels:
  - name: ok
    url: console://
  - name: broken
    url: "json://h.example.org/{SECRET}
    tags: [a
""",
    )
    with pytest.raises(ChannelError) as info:
        load_channels(path, {})
    message = str(info.value)
    assert str(path) in message
    assert info.value.line is not None
    assert f"line {info.value.line}" in message
    assert "invalid YAML" in message
    assert_no_secret(message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- console://\n", "mapping with a 'channels:' list"),
        ("channels: console://\n", "must be a list"),
        ("channels: []\n", "is empty"),
        ("channels:\n  - console://\n", "must be a mapping"),
        ("channels:\n  - url: console://\n", "without a 'name'"),
        ("channels:\n  - name: a\n", "'url' must be"),
        ("channels:\n  - name: a\n    url: console://\n    min-severity: high\n", "unknown key"),
        ("channels:\n  - name: a\n    url: console://\n    min_severity: urgent\n", "min_severity"),
        ("channels:\n  - name: a\n    url: console://\n    tags: [1, 2]\n", "'tags'"),
        ("channels:\n  - name: a\n    url: jsonl://relative/x.jsonl\n", "absolute path"),
        ("channels:\n  - name: a\n    url: json://h.example.org/${NOPE\n", "unclosed"),
        ("channels:\n  - name: a\n    url: json://h.example.org/${1X}\n", "bad variable"),
    ],
)
def test_invalid_entries(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ChannelError, match=expected) as info:
        load_channels(write(tmp_path, text), {})
    assert str(tmp_path) in str(info.value)


def test_duplicate_names_point_at_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "channels:\n  - name: a\n    url: console://\n  - name: a\n    url: console://\n",
    )
    with pytest.raises(ChannelError, match=r"line 4: channel 'a': duplicate name .*line 2"):
        load_channels(path, {})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="cannot read"):
        load_channels(tmp_path / "nope.yaml", {})


@pytest.mark.skipif(
    importlib.util.find_spec("paho") is not None, reason="paho-mqtt is installed here"
)
def test_disabled_scheme_says_what_it_needs(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  - name: mq\n    url: mqtt://127.0.0.1:1883/parley\n")
    with pytest.raises(ChannelError, match="paho-mqtt"):
        load_channels(path, {})


def test_seed_example_loads(tmp_path: Path) -> None:
    expected = {
        "terminal",
        "desk-webhook",
        "desk-email",
        "slack-negotiations",
        "telegram-ops",
        "matrix-room",
        "ops-mqtt",
    }
    if importlib.util.find_spec("paho") is not None:
        channels = load_channels(SEED, SEED_ENV)
    else:
        # Without paho-mqtt apprise disables mqtt://: the error must say so, and the
        # other examples must still load.
        with pytest.raises(ChannelError, match="paho-mqtt") as info:
            load_channels(SEED, SEED_ENV)
        assert info.value.channel == "ops-mqtt"
        data = yaml.safe_load(SEED.read_text(encoding="utf-8"))
        data["channels"] = [c for c in data["channels"] if c["name"] != "ops-mqtt"]
        channels = load_channels(write(tmp_path, yaml.safe_dump(data)), SEED_ENV)
        expected.discard("ops-mqtt")
    assert {c.name for c in channels} == expected
    by_name = {c.name: c for c in channels}
    assert by_name["desk-email"].tags == frozenset({"znpp", "black-sea"})
    assert by_name["telegram-ops"].min_severity == "critical"
    for channel in channels:
        for value in SEED_ENV.values():
            assert value not in channel.safe_url
            assert value not in repr(channel)
