"""Story clustering: which story a new matching item joins (pure scoring)."""

from __future__ import annotations

from parley.flows.stories.cluster import StoryView, choose_story, jaccard, signature


def _story(
    story_id: int, title: str, numbers: set[str] | None = None, names: set[str] | None = None
) -> StoryView:
    return StoryView(story_id, signature(title, ""), frozenset(numbers or ()),
                     frozenset(names or ()))  # fmt: skip


def test_signature_keeps_distinctive_words_normalised() -> None:
    words = signature("Ukraine and Russia SWAP 175 prisoners", "Brokered by the UAE.")
    assert {"ukraine", "russia", "swap", "prisoners", "brokered"} <= words
    assert "175" not in words
    assert "and" not in words


def test_a_shared_figure_joins_across_languages() -> None:
    story = _story(1, "Ukraine and Russia swap 175 prisoners each", {"175"})
    words = signature("Россия и Украина провели обмен пленными 175 на 175", "")
    assert choose_story([story], words, frozenset({"175"}), frozenset()) == story


def test_same_wording_joins_within_a_language() -> None:
    story = _story(1, "IAEA team rotates at Zaporizhzhia nuclear power plant")
    words = signature("IAEA team rotation at Zaporizhzhia nuclear power plant delayed", "")
    assert jaccard(story.signature, words) > 0.5
    assert choose_story([story], words, frozenset(), frozenset()) == story


def test_unrelated_item_of_the_same_topic_opens_a_new_story() -> None:
    story = _story(1, "Ukraine and Russia swap 175 prisoners each", {"175"})
    words = signature("Ombudsman says lists for the next exchange are being drawn up", "")
    assert choose_story([story], words, frozenset({"12"}), frozenset()) is None


def test_the_best_story_wins() -> None:
    weak = _story(1, "Prisoner exchange talks resume", names={"umerov"})
    strong = _story(2, "Ukraine and Russia swap 175 prisoners each", {"175"}, {"umerov"})
    words = signature("175 prisoners come home in a swap", "")
    chosen = choose_story([weak, strong], words, frozenset({"175"}), frozenset({"umerov"}))
    assert chosen == strong


def test_the_figure_in_the_topic_alias_joins_nothing() -> None:
    from parley.flows.stories.cluster import joining_numbers

    assert joining_numbers(frozenset({"30", "175"}), ("30-day cease-fire",)) == {"175"}
    story = _story(1, "Kremlin sets conditions for a 30-day ceasefire", {"30"})
    words = signature("RT bulletin: strikes overnight, 30-day truce debated", "")
    numbers = joining_numbers(frozenset({"30"}), ("30-day cease-fire",))
    assert choose_story([story], words, numbers, frozenset()) is None


def test_acronyms_and_bulletin_names_join_nothing() -> None:
    from parley.flows.stories.cluster import joining_names

    assert joining_names(frozenset({"msk", "mod", "rt nvs", "amrv", "mdnsk"})) == {"amrv", "mdnsk"}
