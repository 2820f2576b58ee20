"""A photo's or a file's words on Telegram: a caption holds 1024 UTF-16 code units (an
emoji is two); what does not fit follows as a message, cut between words, nothing lost."""

import asyncio
from types import SimpleNamespace

from bot.delivery import PartSent
from bot.telegram import CAPTION_LIMIT, _prepared, captioned
from core.messages import Msg, Reply
from core.models import OutboxMessage


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


def test_a_telegram_file_that_is_no_photo_alone_is_read_as_nothing_and_said_to_be_a_file_not_passed_on():
    """It came as "a message without text", as a sticker does: nobody was told the file went nowhere."""
    from bot import telegram

    update = {"update_id": 8, "message": {
        "message_id": 4, "date": 1764000000, "chat": {"id": 501, "type": "private"},
        "from": {"id": 501, "is_bot": False, "first_name": "Amina"},
        "document": {"file_id": "BQAD", "file_unique_id": "u1", "mime_type": "application/pdf", "file_name": "quote.pdf"}}}  # fmt: skip
    inbound = telegram.parse(update)
    assert (inbound.event.kind, inbound.event.text, inbound.event.other_file, inbound.photo) == (
        "unsupported", "", True, None)


def test_a_telegram_round_video_is_a_file_not_passed_on_as_a_video_is():
    """A video note (the round video recorded in the chat) came as "a message without text",
    as a sticker does: nobody was told it went nowhere, customer or staff."""
    from bot import telegram

    for kind, body in (("video", {"file_id": "BAAD", "file_unique_id": "u2", "width": 640, "height": 360,
                                  "duration": 3}),
                       ("video_note", {"file_id": "DQAD", "file_unique_id": "u3", "length": 240, "duration": 3})):
        inbound = telegram.parse({"update_id": 9, "message": {
            "message_id": 5, "date": 1764000000, "chat": {"id": 501, "type": "private"},
            "from": {"id": 501, "is_bot": False, "first_name": "Amina"}, kind: body}})  # fmt: skip
        assert (inbound.event.kind, inbound.event.other_file, inbound.note) == ("unsupported", True, "a file only"), kind


# -- long texts, counted as Telegram counts them ----------------------------------------


def sent_whole(call, row: OutboxMessage) -> None:
    """Run the call as the delivery loop does: again after each part sent, until the last."""
    for _ in range(10):
        try:
            asyncio.run(call(row))
            return
        except PartSent:
            continue


class TextBot:
    def __init__(self):
        self.sent = []

    async def send_message(self, chat, text, reply_markup=None):
        self.sent.append(text)
        return SimpleNamespace(message_id=len(self.sent))


def test_a_long_text_of_emoji_goes_in_parts_telegram_takes():
    """A customer's message of emoji (2 UTF-16 units each) to the shop, forwarded with its
    header, was cut by characters into one part of 4,120 UTF-16 units, which Telegram
    refuses ('message is too long'): the owner got nothing."""
    said = ("The noise starts at 60 km/h 🚗💥 " * 200)  # as much as Telegram took from her: 4,096 UTF-16 units
    while utf16(said) > 4096:
        said = said[:-1]
    words = "Message from Amina (-): " + said  # one piece by code points (3,696), 4,120 UTF-16 units
    reply = Reply((Msg("{w}", {"w": words}),))
    row = OutboxMessage(address="6000001", body=reply.to_json(), kind="text", language="en")
    bot = TextBot()
    sent_whole(_prepared(bot, row), row)
    assert bot.sent and all(utf16(t) <= 4096 for t in bot.sent), [utf16(t) for t in bot.sent]


class PhotoBot(TextBot):
    async def send_photo(self, chat, data, caption=None, filename=None, reply_markup=None):
        self.sent.append(f"[photo] {caption}")
        return SimpleNamespace(message_id=len(self.sent))


def test_the_words_that_do_not_fit_under_a_photo_go_on_in_parts_telegram_takes():
    """Her words of emoji to the shop under a photo: what did not fit in the caption went
    on cut at 4,096 characters, some 7,000 UTF-16 units, which Telegram refuses."""
    words = "Photo from Amina (-): " + "🚗" * 4096
    reply = Reply((Msg("{w}", {"w": words}),))
    row = OutboxMessage(address="6000001", body=reply.to_json(), kind="photo", language="en")
    bot = PhotoBot()
    sent_whole(_prepared(bot, row, (b"jpeg", "photo.jpg")), row)

    assert bot.sent[0].startswith("[photo] Photo from Amina (-): 🚗") and len(bot.sent) == 3
    assert all(utf16(t) <= 4096 for t in bot.sent[1:]), [utf16(t) for t in bot.sent]
    assert "".join(t.strip("…") for t in bot.sent).count("🚗") == 4096  # nothing lost
