"""A photo's or a file's words on Telegram: a caption holds 1024 UTF-16 code units (an
emoji is two); what does not fit follows as a message, cut between words, nothing lost."""

from bot.telegram import CAPTION_LIMIT, captioned


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_words_that_fit_are_the_caption_alone():
    assert captioned("Photo from Amina (-): Is this tyre still safe?") == \
        ("Photo from Amina (-): Is this tyre still safe?", "")  # fmt: skip


def test_long_words_go_on_in_a_message_cut_between_words():
    words = "Photo from Amina (-): " + "The noise starts at 60 km/h. " * 40 + "END"

    caption, rest = captioned(words)

    assert caption == words[:1017] + "…" and caption.endswith(" The noise…")  # 1018 of 1024: "starts" did not fit
    assert rest == "…" + words[1018:] and rest.startswith("…starts at 60 km/h.") and rest.endswith("END")


def test_emoji_count_twice_towards_the_caption():
    words = "Photo from Amina (-): " + "🚗💥" * 300

    caption, rest = captioned(words)

    assert utf16(caption) <= CAPTION_LIMIT < len(caption) * 2 and caption[:-1] + rest[1:] == words
