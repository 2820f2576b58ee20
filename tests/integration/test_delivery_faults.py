"""Invariant 4: nothing accepted is lost, nothing delivered is sent again.

A 429 storm from the Bot API, Redis down while updates arrive (a redis-server this test
starts and stops itself, never the machine's shared one), and the re-drive."""

import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import select

from bot import delivery, schedule
from bot.pacing import Turn
from core import outbox
from core.messages import Msg, Reply
from core.models import OutboxMessage, Shop
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import start_pitstop
from tests.integration.lock_probes import another_writer_can_go
from tests.integration.staff_helpers import KIPRONO, WANJIRU, Clocked, book
from tests.integration.test_staff import KIP_TG, at
from tests.integration.test_talk_to_the_shop import (
    JPEG,
    MONDAY_9,
    OWNER_TG,
    amina_sends_a_photo,
    sent_photos,
)

AMINA = 5550001


def statuses(pitstop):
    with pitstop.runtime.db.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def test_a_429_storm_delays_replies_but_loses_and_repeats_nothing(sqlite_url):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio)
        telegram.fail_next(3, status=429, retry_after=1, methods=["sendMessage"])
        for text in ("/start", "hello", "menu"):
            pitstop.say(AMINA, text)
        assert statuses(pitstop).count("pending") == 3 and pitstop.texts(AMINA) == []  # the first asked to wait,
        # and the others wait behind it: a chat's replies arrive in the order written
        for _ in range(3):  # the Bot API asks for one second, three times
            time.sleep(1.1)
            schedule.redrive_outbox(min_age=timedelta(0))
        assert statuses(pitstop) == ["sent"] * 3
        first = pitstop.texts(AMINA)
        assert len(first) == 3 and first[0].startswith("Hello") and first[1] == "Hello!\nWhat would you like to do?"
        assert schedule.redrive_outbox(min_age=timedelta(0)) == 0  # nothing is sent twice
        assert len(telegram.sent_messages(AMINA)) == 3


def test_a_revoked_bot_token_is_tried_again_later_and_never_written_down(sqlite_url):
    """Telegram's refusal of a token quotes it: what we keep (the row's last error, the
    log line) names the setting instead, and the reply waits for the re-drive."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        telegram.allowed_tokens = {"999:another-bot"}  # the shop's token was revoked
        pitstop = start_pitstop(sqlite_url, telegram, twilio)
        pitstop.say(AMINA, "/start")
        with pitstop.runtime.db.uow() as uow:
            rows = list(uow.session.execute(select(OutboxMessage.status, OutboxMessage.last_error)))
    assert rows == [("pending", "InvalidToken: Telegram rejected the token in MWANGAZA_TELEGRAM_TOKEN "
                                "(the bot of mwangaza-motors)")]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, which it may stop and start at will."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; `make services` says how to install it")
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(tmp_path)]

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process = None

        def start(self):
            self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
            for _ in range(100):
                try:
                    if Redis.from_url(self.url).ping():
                        return
                except Exception:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def stop(self):
            self.process.terminate()
            self.process.wait(10)

    server = Server()
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def test_with_redis_down_updates_are_answered_200_and_replies_follow_when_it_returns(pg_url, pg_db, own_redis):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(pg_url, telegram, twilio, {"REDIS_URL": own_redis.url})
        own_redis.stop()
        for text in ("/start", "hello"):
            pitstop.say(AMINA, text)  # asserts 200
        assert statuses(pitstop)[-2:] == ["pending", "pending"]

        own_redis.start()
        assert schedule.redrive_outbox(min_age=timedelta(0)) >= 2
        SimpleWorker(["pitstop"], connection=Redis.from_url(own_redis.url)).work(burst=True)
        assert statuses(pitstop)[-2:] == ["sent", "sent"]
        assert len(pitstop.texts(AMINA)) == 2


class BurstWorker(SimpleWorker):
    """A worker in this process that listens for no commands: RQ's listener takes up to a
    minute to stop, and a story runs the worker after each step."""

    def subscribe(self) -> None:
        pass


def worked(redis) -> None:
    """A worker runs what is queued on Redis, to the end."""
    BurstWorker(["pitstop"], connection=Redis.from_url(redis.url)).work(burst=True)


def redis_returns(redis) -> None:
    """Redis is back; the cron re-drive runs, and a worker after it."""
    redis.start()
    schedule.redrive_outbox(min_age=timedelta(0))
    worked(redis)


def test_with_redis_down_a_customers_photo_reaches_the_owner_once_it_returns(pg_url, pg_db, own_redis):
    """The photo was fetched by a job enqueued after the message committed: with Redis
    down the job was dropped, and the owner never had the photo, nor heard of it."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        story = Clocked(start_pitstop(pg_url, telegram, twilio, {"REDIS_URL": own_redis.url}))
        for step in (lambda: story.say(OWNER_TG, "/staff", MONDAY_9), lambda: story.contact(OWNER_TG, WANJIRU.lstrip("+"), MONDAY_9),
                     lambda: story.say(AMINA, "/start", MONDAY_9, first_name="Amina"),
                     lambda: story.tap(AMINA, "lang:en", MONDAY_9), lambda: story.tap(AMINA, "m:shop", MONDAY_9)):  # fmt: skip
            step()
            worked(own_redis)
        own_redis.stop()

        amina_sends_a_photo(story, MONDAY_9 + timedelta(minutes=1), "Is this tyre still safe?")
        assert sent_photos(story, OWNER_TG) == []
        redis_returns(own_redis)

        [photo] = sent_photos(story, OWNER_TG)
        assert (photo["caption"], photo["file"]["content"]) == ("Photo from Amina (-): Is this tyre still safe?", JPEG)
        assert story.last(AMINA) == "Sent to the shop. They will answer you here.\nWhat would you like to do?"


def test_with_redis_down_a_photo_of_extra_work_reaches_the_customer_once_it_returns(pg_url, pg_db, own_redis):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        story = Clocked(start_pitstop(pg_url, telegram, twilio, {"REDIS_URL": own_redis.url}))
        story.say(AMINA, "/start", MONDAY_9, first_name="Amina")
        worked(own_redis)
        story.tap(AMINA, "lang:en", MONDAY_9)
        book(story.db, story.shop_id("mwangaza-motors"), str(AMINA), ["brake-pads", "battery"], at(24, 10), MONDAY_9)
        story.say(KIP_TG, "/staff", MONDAY_9)
        story.contact(KIP_TG, KIPRONO.lstrip("+"), MONDAY_9)
        for typed in ("start 1001", "extra 1001", "Leaking radiator hose", "1500"):
            story.say(KIP_TG, typed, at(24, 10, 10))
        worked(own_redis)
        own_redis.stop()

        mechanic_sends_a_photo(story, KIP_TG, JPEG, at(24, 10, 11))
        story.say(KIP_TG, "yes", at(24, 10, 12))
        redis_returns(own_redis)

        asked, photo = telegram.sent_messages(AMINA)[-2:]
        assert asked["text"].endswith("Leaking radiator hose.\nIt costs Ksh1,500. With it your total would be "
                                      "Ksh18,000.\nDo you approve this work?")  # fmt: skip
        assert (photo["method"], photo["caption"], photo["file"]["content"]) == \
            ("sendPhoto", "Photo of the extra work on MM-1001: Leaking radiator hose", JPEG)  # fmt: skip


def mechanic_sends_a_photo(story, chat: int, content: bytes, when) -> None:
    story.post(story.p.telegram.update_photo(next(story.ids), chat, content), when)


def one_reply_to_deliver_by_hand(url: str, telegram, twilio):
    """Pitstop with one reply to Amina queued, and no job that would deliver it."""
    pitstop = start_pitstop(url, telegram, twilio)
    pitstop.runtime.db.queue = None
    with pitstop.runtime.db.uow() as uow:
        queued = outbox.send(uow.session, shop_id=1, channel="telegram", address=str(AMINA), language="en",
                             reply=Reply((Msg("Your car is ready for pickup."),)))  # fmt: skip
    return pitstop, queued


class FakePacer:
    """Gives every message its turn at once, and while one waits checks who else may
    write; `late` turns are missed (as if the row's lock took a while) before it."""

    def __init__(self, check=lambda: True, late: int = 0):
        self.check, self.late = check, late
        self.turns: list[tuple[str, str, bool]] = []
        self.given_up: list[Turn] = []

    def wait(self, bot: str, chat: str, given_up: Turn | None = None) -> Turn:
        self.turns.append((bot, chat, self.check()))
        if given_up:
            self.given_up.append(given_up)
        missed = len(self.turns) <= self.late
        return Turn(0, True, at=len(self.turns), due=time.monotonic() - (1 if missed else 0))


def test_a_reply_waiting_for_its_chats_turn_holds_up_no_other_write(url, monkeypatch):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop, queued = one_reply_to_deliver_by_hand(url, telegram, twilio)
        pacer = FakePacer(lambda: another_writer_can_go(url, queued.id))
        monkeypatch.setattr(delivery, "pacer_for", lambda runtime: pacer)

        delivery.deliver(queued.id)

        assert pacer.turns == [(f"tg{telegram.token.split(':')[0]}", str(AMINA), True)]
        assert statuses(pitstop) == ["sent"]
        assert pitstop.texts(AMINA) == ["Your car is ready for pickup."]


def test_a_reply_whose_turn_passed_while_its_row_was_locked_lets_go_and_takes_the_next_turn(sqlite_url, monkeypatch):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop, queued = one_reply_to_deliver_by_hand(sqlite_url, telegram, twilio)
        pacer = FakePacer(lambda: another_writer_can_go(sqlite_url, queued.id), late=1)
        monkeypatch.setattr(delivery, "pacer_for", lambda runtime: pacer)

        delivery.deliver(queued.id)

        bot = f"tg{telegram.token.split(':')[0]}"
        assert pacer.turns == [(bot, str(AMINA), True), (bot, str(AMINA), True)]  # no lock held while waiting again
        assert [turn.at for turn in pacer.given_up] == [1]
        assert len(telegram.sent_messages(AMINA)) == 1


def send_to_amina(pitstop, *texts: str) -> None:
    with pitstop.runtime.db.uow() as uow:
        shop_id = uow.session.scalar(select(Shop.id).where(Shop.slug == "mwangaza-motors"))
        for text in texts:
            outbox.send(uow.session, shop_id=shop_id, channel="telegram", address=str(AMINA), language="en",
                        reply=Reply((Msg(text),)), now=pitstop.runtime.now())  # fmt: skip


def test_a_reply_whose_send_failed_is_not_overtaken_by_the_next_to_the_same_chat(sqlite_url):
    """A gateway error on the first: "see you then" arrived before "your booking is
    confirmed", which came with the re-drive."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio)
        telegram.fail_next(1, status=502, methods=["sendMessage"])

        send_to_amina(pitstop, "Your booking is confirmed.", "See you then!")
        assert pitstop.texts(AMINA) == []  # the second waits for the first
        time.sleep(2.1)  # the first is tried again after 2 s
        schedule.redrive_outbox(min_age=timedelta(0))

        assert pitstop.texts(AMINA) == ["Your booking is confirmed.", "See you then!"]


def test_a_message_that_keeps_failing_no_longer_holds_the_chats_next_ones_back(sqlite_url):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio)
        telegram.fail_next(1, status=502, methods=["sendMessage"])
        send_to_amina(pitstop, "A message Telegram keeps refusing.")
        with pitstop.runtime.db.uow() as uow:  # it has failed more often than a passing fault would
            uow.session.scalar(select(OutboxMessage)).attempts = delivery.KEEPS_ORDER_FOR + 1

        send_to_amina(pitstop, "The next one.")

        assert pitstop.texts(AMINA) == ["The next one."]


def test_a_buttons_spinner_that_could_not_be_stopped_holds_no_reply_back(sqlite_url):
    """Telegram refuses to stop a spinner once the tap is too old: nothing to keep in
    order behind that, and the reply goes at once."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio)
        pitstop.say(AMINA, "/start")
        telegram.fail_next(1, status=400, methods=["answerCallbackQuery"])

        pitstop.tap(AMINA, "lang:en")

        assert pitstop.texts(AMINA)[-1].startswith("Great, let's talk in English.")


def test_a_chat_that_blocked_the_bot_is_not_tried_again_and_again(sqlite_url):
    """Telegram's 403 ("bot was blocked by the user") was retried for ever, every ten
    minutes, each time filling the re-drive's batch a little more."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio)
        telegram.fail_next(1, status=403, methods=["sendMessage"])

        send_to_amina(pitstop, "Your car is ready.")

        with pitstop.runtime.db.uow() as uow:
            row = uow.session.scalar(select(OutboxMessage))
            assert (row.status, row.attempts) == ("failed", 1) and row.last_error.startswith("Telegram refused it: ")
        assert schedule.redrive_outbox(min_age=timedelta(0)) == 0


def test_a_tap_is_acknowledged_at_once_even_behind_a_message_being_retried(sqlite_url):
    """The spinner's stop waited behind the failed message for the re-drive, by when
    Telegram calls the tap too old: it keeps nothing in order, so it never waits."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        pitstop = start_pitstop(sqlite_url, telegram, twilio)
        pitstop.say(AMINA, "/start")
        telegram.fail_next(1, status=502, methods=["sendMessage"])
        send_to_amina(pitstop, "Your car is ready.")  # fails once, waits for the re-drive

        pitstop.tap(AMINA, "lang:en")

        assert len(telegram.answered_callbacks()) == 1
