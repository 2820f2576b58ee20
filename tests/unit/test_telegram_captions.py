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


def test_the_words_under_a_telegram_file_that_is_no_photo_are_read_and_the_file_said_not_passed_on():
    """As on WhatsApp: before, the words were lost and she was told 'I can only read text'."""
    from bot import telegram

    update = {"update_id": 7, "message": {
        "message_id": 3, "date": 1764000000, "chat": {"id": 501, "type": "private"},
        "from": {"id": 501, "is_bot": False, "first_name": "Amina"},
        "document": {"file_id": "BQAD", "file_unique_id": "u1", "mime_type": "application/pdf", "file_name": "quote.pdf"},
        "caption": "Here is the quote from the other garage, can you match it?"}}  # fmt: skip
    inbound = telegram.parse(update)
    assert (inbound.event.text, inbound.event.other_file, inbound.photo) == (
        "Here is the quote from the other garage, can you match it?", True, None)
