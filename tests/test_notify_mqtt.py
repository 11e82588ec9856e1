"""MQTT delivery through apprise to the real Mosquitto broker on 127.0.0.1:1883.

Skipped when nothing listens on 1883, unless PARLEY_REQUIRE_MQTT is set (then it fails).
Every wait is bounded.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from receivers import free_port

from parley.alerts.channel_file import load_channels
from parley.alerts.channels import Channel
from parley.alerts.notify import send

BROKER = ("127.0.0.1", 1883)
WAIT = 10.0
TITLE = "[Black Sea] Talks on safe shipping resume in Istanbul"
BODY = "Delegations agreed on inspections of grain vessels.\nDnipro Wire — 2025-03-21 16:05 EET"
SECRET = "mqtt-Secret-93bd27"


def _broker_down() -> str | None:
    try:
        with socket.create_connection(BROKER, timeout=2):
            return None
    except OSError as exc:
        return f"no MQTT broker on {BROKER[0]}:{BROKER[1]} ({exc.strerror or exc})"


@pytest.fixture(scope="module")
def broker() -> None:
    reason = _broker_down()
    if reason is not None:
        if os.environ.get("PARLEY_REQUIRE_MQTT"):
            pytest.fail(reason)
        pytest.skip(reason)


class Subscriber:
    """A paho-mqtt client subscribed to one topic, keeping every payload it receives."""

    def __init__(self, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.topic = topic
        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"parley-test-{uuid.uuid4().hex[:8]}"
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def __enter__(self) -> Subscriber:
        self._client.connect(*BROKER, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(WAIT):
            self.__exit__()
            raise AssertionError(f"no SUBACK for {self.topic} within {WAIT} s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: object, userdata: object, flags: object, rc: object,
                    properties: object = None) -> None:  # fmt: skip
        self._client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, *args: object) -> None:
        self._subscribed.set()

    def _on_message(self, client: object, userdata: object, message: object) -> None:
        with self._lock:
            self.payloads.append(message.payload)  # type: ignore[attr-defined]

    def wait_for(self, count: int = 1, timeout: float = WAIT) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.payloads) >= count:
                    return list(self.payloads)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} MQTT message(s) on {self.topic}, got 0")


def _channel(tmp_path: Path, url: str, env: dict[str, str] | None = None) -> Channel:
    path = tmp_path / "channels.yaml"
    document = {"channels": [{"name": "desk-mqtt", "url": url}]}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    [channel] = load_channels(path, env or {})
    return channel


@pytest.fixture
def topic() -> str:
    return f"parley/test/{uuid.uuid4().hex}"


@pytest.fixture
def subscriber(broker: None, topic: str) -> Iterator[Subscriber]:
    with Subscriber(topic) as client:
        yield client


def test_alert_is_published_to_the_broker(
    tmp_path: Path, topic: str, subscriber: Subscriber
) -> None:
    channel = _channel(tmp_path, f"mqtt://{BROKER[0]}:{BROKER[1]}/{topic}")
    assert channel.safe_url.startswith("mqtt://127.0.0.1")
    outcome = send(channel, TITLE, BODY, timeout=WAIT)
    assert outcome.ok, outcome.error
    [payload] = subscriber.wait_for(1)
    text = payload.decode("utf-8")
    assert TITLE in text
    assert "Delegations agreed on inspections of grain vessels." in text
    assert "Dnipro Wire — 2025-03-21 16:05 EET" in text


def test_unreachable_broker_fails_naming_the_channel_without_the_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"mqtt://parley:${{MQTT_PASSWORD}}@127.0.0.1:{free_port()}/parley/test/closed"
    channel = _channel(tmp_path, url, {"MQTT_PASSWORD": SECRET})
    assert SECRET not in channel.safe_url
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        outcome = send(channel, TITLE, BODY, timeout=5)
    assert time.monotonic() - started < WAIT
    assert not outcome.ok
    assert outcome.error is not None and "desk-mqtt" in outcome.error
    assert SECRET not in outcome.error
    assert SECRET not in caplog.text
