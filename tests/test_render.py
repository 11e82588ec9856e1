"""Alert rendering: title form, time zone, word diff, untrusted text neutralised."""

from __future__ import annotations

import dataclasses
import random
import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from parley.alerts.render import (
    MAX_HEADLINE,
    MAX_SNIPPET,
    MAX_TITLE,
    AlertView,
    _strip_controls,
    render_alert,
    word_diff,
)
from parley.alerts.render_topics import render_item_alert, title_topics

KYIV = ZoneInfo("Europe/Kyiv")

VIEW = AlertView(
    kind="new",
    topic_name="Zaporizhzhia NPP",
    topic_key="znpp",
    severity="high",
    headline="IAEA team rotates at the plant",
    outlet="Reuters",
    published_at=datetime(2025, 3, 25, 12, 2, tzinfo=UTC),
    link="https://wire.example/world/iaea-team-rotates",
    terms=("ZNPP", "IAEA"),
    field="title",
    snippet="The IAEA said its team at the ZNPP rotated on Tuesday.",
)


def test_title_says_what_moved() -> None:
    alert = render_alert(VIEW, KYIV)
    assert alert.title == "[Zaporizhzhia NPP] IAEA team rotates at the plant — Reuters"


def test_updated_title_and_what_changed() -> None:
    view = dataclasses.replace(
        VIEW,
        kind="updated",
        diff=word_diff("IAEA team will rotate on Monday", "IAEA team rotated on Tuesday"),
    )
    alert = render_alert(view, KYIV)
    assert alert.title.startswith("[Zaporizhzhia NPP] Updated: IAEA team rotates")
    body = alert.body.splitlines()
    changed = body.index("What changed:")
    assert body[changed + 1] == "IAEA team [-will rotate-] {+rotated+} on [-Monday-] {+Tuesday+}"


def test_body_has_evidence_in_the_users_zone() -> None:
    body = render_alert(VIEW, KYIV).body.splitlines()
    assert body[0] == "IAEA team rotates at the plant"
    assert body[1] == "Reuters — 2025-03-25 14:02 EET"
    assert body[2] == "https://wire.example/world/iaea-team-rotates"
    assert 'Matched: "ZNPP", "IAEA" in title' in body
    assert "The IAEA said its team at the ZNPP rotated on Tuesday." in body
    assert "What changed:" not in body


def test_summer_time_and_unknown_time() -> None:
    summer = dataclasses.replace(VIEW, published_at=datetime(2025, 7, 1, 9, 30, tzinfo=UTC))
    assert "2025-07-01 12:30 EEST" in render_alert(summer, KYIV).body
    assert "2025-07-01 09:30 UTC" in render_alert(summer, ZoneInfo("UTC")).body
    unknown = dataclasses.replace(VIEW, published_at=None)
    assert "Reuters — time unknown" in render_alert(unknown, KYIV).body


def test_word_diff_shows_only_changed_regions_with_context() -> None:
    old = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    new = "one two three four five SIX seven eight nine ten eleven twelve thirteen fourteen"
    assert word_diff(old, new) == "… three four five [-six-] {+SIX+} seven eight nine …"


def test_word_diff_separate_hunks_insert_and_delete() -> None:
    old = "a b c d e f g h i j k l m n o p"
    new = "X a b c d e f g h i j k l m n p"
    assert word_diff(old, new) == "{+X+} a b c …\n… l m n [-o-] p"


def test_word_diff_identical_or_whitespace_only() -> None:
    assert word_diff("same words here", "same  words\nhere") == ""


def test_injection_is_neutralised() -> None:
    view = dataclasses.replace(
        VIEW,
        kind="updated",
        headline="Talks <script>alert(1)</script> `code` [click](https://evil.example) @channel\x1b[31m",
        outlet="Evil\u202eOutlet<img src=x>",
        link="javascript:alert(1)",
        terms=('"quoted"', "<b>"),
        snippet="line one\x00\x07\nline two ![img](http://evil.example/x.png) @everyone",
        diff="[-old-] {+<a href=x>new</a>+}",
    )
    alert = render_alert(view, KYIV)
    for text in (alert.title, alert.body):
        assert "<" not in text
        assert ">" not in text
        assert "`" not in text
        assert "](" not in text
        assert "@channel" not in text
        assert "@everyone" not in text
        assert "\x1b" not in text
        assert "\x00" not in text
        assert "\u202e" not in text
    assert "javascript" not in alert.body
    assert "Talks ‹script›alert(1)‹/script›" in alert.title
    assert "line one\nline two" in alert.body
    assert "[-old-] {+‹a href=x›new‹/a›+}" in alert.body


def test_link_is_encoded_not_dropped() -> None:
    view = dataclasses.replace(VIEW, link="https://example.org/a b<c>`d`?q=1")
    assert "https://example.org/a%20b%3Cc%3E%60d%60?q=1" in render_alert(view, KYIV).body


@pytest.mark.parametrize("link", ["ftp://example.org/x", "//example.org/x", "data:text/html,x"])
def test_non_http_links_are_left_out(link: str) -> None:
    body = render_alert(dataclasses.replace(VIEW, link=link), KYIV).body
    assert "example.org/x" not in body
    assert "data:" not in body


def test_lengths_are_capped() -> None:
    view = dataclasses.replace(VIEW, headline="word " * 500, snippet="x" * 5000)
    alert = render_alert(view, KYIV)
    assert len(alert.title) <= MAX_TITLE
    assert alert.title.endswith("— Reuters")
    assert len(alert.body.splitlines()[0]) <= MAX_HEADLINE
    assert all(len(line) <= MAX_SNIPPET for line in alert.body.splitlines())
    assert "…" in alert.title


def _strip_slowly(text: str, keep_newlines: bool) -> str:
    """_strip_controls as it was before its fast path for printable text: every character."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\n" if keep_newlines else " ")
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in {"Cc", "Cf", "Cs"} and ch not in "\u200c\u200d":
            continue
        else:
            out.append(ch)
    return "".join(out)


def test_printable_text_fast_path_cleans_as_before() -> None:
    """Random text over the characters that matter (controls, bidi, zero-width joiners,
    odd spaces, surrogates, private use, unassigned, Cyrillic): same result either way."""
    rng = random.Random(20250327)
    alphabet = ("aZ ЗАЕС'-:/?#%<>`@\r\n\t\x00\x7f\x85\u00a0\u00ad\u200b\u200c\u200d"
                "\u2028\u2029\u202e\u2066\ufeff\ud800\ue000\U000e0001\u0378")  # fmt: skip
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        for keep in (False, True):
            assert _strip_controls(text, keep_newlines=keep) == _strip_slowly(text, keep)
        link = "https://example.org/" + text
        kept = "".join(ch for ch in link.strip() if unicodedata.category(ch)[0] != "C")
        if link.strip().isprintable():
            assert kept == link.strip()  # what lets safe_link skip its filter


# --- one alert for an item on several topics ------------------------------------------------


def test_one_topic_renders_as_a_single_alert() -> None:
    assert render_item_alert([VIEW], KYIV) == render_alert(VIEW, KYIV)


def test_several_topics_one_title_naming_all_and_each_topics_own_part() -> None:
    development = dataclasses.replace(VIEW, kind="development", added=("new figure: 22",))
    energy = dataclasses.replace(
        VIEW,
        topic_name="Energy truce",
        topic_key="energy-truce",
        severity="medium",
        terms=("energy",),
        snippet="Strikes on «energy» sites paused.",
    )
    alert = render_item_alert([development, energy], KYIV)
    assert alert.title == (
        "[Zaporizhzhia NPP · Energy truce] Development: IAEA team rotates at the plant — Reuters"
    )
    body = alert.body.splitlines()
    assert body[:4] == [
        "IAEA team rotates at the plant",
        "Reuters — 2025-03-25 14:02 EET",
        "https://wire.example/world/iaea-team-rotates",
        "Severity: high · Topics: Zaporizhzhia NPP, Energy truce",
    ]
    znpp = body.index("Zaporizhzhia NPP (high): development")
    truce = body.index("Energy truce (medium): new story")
    assert znpp < truce
    assert body.index("What's new: new figure: 22") == znpp + 1  # the development's, not both
    assert body.count("What's new: new figure: 22") == 1
    assert body[truce + 1 :] == ['Matched: "energy" in title', "Strikes on «energy» sites paused."]


def test_an_edit_on_several_topics_shows_what_changed_once() -> None:
    diff = word_diff("40 vessels wait", "63 vessels wait")
    views = [
        dataclasses.replace(VIEW, kind="updated", diff=diff),
        dataclasses.replace(VIEW, kind="updated", diff=diff, topic_name="Talks", severity="low"),
    ]
    alert = render_item_alert(views, KYIV)
    assert alert.title.startswith("[Zaporizhzhia NPP · Talks] Updated: ")
    assert alert.body.count("What changed:") == 1
    assert alert.body.count("The IAEA said its team") == 1  # a snippet the topics share: once
    assert "Talks (low): updated" in alert.body


def test_many_topics_are_counted_when_their_names_do_not_fit() -> None:
    names = [f"A rather long topic name number {n} for the title" for n in range(6)]
    views = [
        dataclasses.replace(VIEW, topic_name=name, topic_key=f"t{n}")
        for n, name in enumerate(names)
    ]
    alert = render_item_alert(views, KYIV)
    assert alert.title.startswith(f"[{names[0]} · {names[1]} +4 more] IAEA team rotates")
    assert len(alert.title) <= MAX_TITLE
    assert alert.title.endswith("— Reuters")
    assert all(f"{name} (high): new story" in alert.body for name in names)
    assert title_topics(["Only one"], 5) == "Only one"
