"""`pitstop demo`: the Pitstop story, played for real on a fresh machine.

A fresh SQLite database under var/demo, both example shops, the webhook app on a free
local port, and fake Telegram, Twilio, Daraja and Kaspi servers. Customers (and later
mechanics and owners) talk to the shops over HTTP exactly as the real services would
call us; the transcript shows every line and button. The clock starts on Monday
23 November 2026 at 10:00 in Nairobi, so the story is the same every time.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from pitstop.story import StoryBroke, TelegramUser, Transcript, WhatsAppUser, World, wait_for

START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday, 10:00 in Nairobi, 12:00 in Atyrau


def chapter_nairobi_telegram(world: World) -> None:
    """Amina books brake pads and an oil change on Telegram, in English."""
    world.transcript.heading("Nairobi · Telegram · English: Amina books brake pads and an oil change")
    world.transcript.timezone = "Africa/Nairobi"
    amina = TelegramUser(world, "mwangaza-motors", 5550001, "Amina", "en")
    world.people["Amina"] = amina
    amina.says("/start")
    amina.taps("English")
    amina.taps("Book a service")
    amina.taps_first("svc:", "Brake pads")
    amina.says("oil change")
    amina.taps("done")
    amina.says("KCB 123A")
    amina.says("Toyota Probox")
    amina.says("tomorrow 10am")
    amina.taps_first("confirm:")
    amina.taps("pay:mpesa")
    amina.shares_contact("+254712345678")
    expect(amina.last_text(), "is held for", "Amina's booking was not held")
    world.transcript.note("Amina enters her M-Pesa PIN on her phone; Safaricom calls Pitstop back")
    wait_for(amina, "is confirmed")


def chapter_nairobi_whatsapp(world: World) -> None:
    """Kamau books on WhatsApp in Swahili, then cancels late and loses a token."""
    world.transcript.heading("Nairobi · WhatsApp · Kiswahili: Kamau books, then cancels late")
    world.transcript.timezone = "Africa/Nairobi"
    kamau = WhatsAppUser(world, "mwangaza-motors", "+254722111222", "Kamau")
    kamau.says("Habari")
    kamau.says("2")                     # Kiswahili
    kamau.says("1")                     # book
    kamau.says("kubadilisha matairi")   # tyre change
    kamau.says("1")                     # that's all
    kamau.says("KDA 456B")
    kamau.says("ruka")                  # skip make and model
    kamau.says("leo saa tisa")          # today 15:00
    kamau.says("ndiyo")
    kamau.says(kamau.number_of("Lipa"))  # pay at the shop
    expect(kamau.last_text(), "MM-", "Kamau's booking has no code")
    kamau.says("menyu")
    kamau.says("2")                     # my bookings
    kamau.says("1")
    kamau.says(kamau.number_of("Ghairi"))  # cancel
    kamau.says("ndiyo")
    expect(kamau.last_text(), "tokeni", "Kamau was not told about the token")


def chapter_atyrau_whatsapp(world: World) -> None:
    """Асель books an oil change on WhatsApp, in Russian."""
    world.transcript.heading("Atyrau · WhatsApp · Русский: Асель books an oil change")
    world.transcript.timezone = "Asia/Atyrau"
    asel = WhatsAppUser(world, "zhaiyk-auto", "+77011234567", "Асель")
    asel.says("Здравствуйте")
    asel.says("1")                      # Русский
    asel.says("записаться")
    asel.says("замена масла")
    asel.says("1")
    asel.says("123 ABC 06")
    asel.says("Toyota Camry")
    asel.says("завтра в 11")
    asel.says("да")
    replies = asel.says(asel.number_of("Kaspi"))
    expect("\n".join(replies), "ZA-", "Асель's booking has no code")
    world.transcript.note("Асель opens the link and pays in the Kaspi app")
    payment = world.kaspi.payments()[-1]
    world.kaspi.set_status(payment.payment_id, "Processed")
    time.sleep(1.1)  # Kaspi asks to be polled no more than once a second here
    run_cron(world, "reconcile_payments")
    wait_for(asel, "ZA-")


def chapter_atyrau_telegram(world: World) -> None:
    """Ерлан books on Telegram, in Kazakh."""
    world.transcript.heading("Atyrau · Telegram · Қазақша: Ерлан books a diagnosis")
    world.transcript.timezone = "Asia/Atyrau"
    erlan = TelegramUser(world, "zhaiyk-auto", 5550002, "Ерлан", "kk")
    erlan.says("/start")
    erlan.taps("Қазақша")
    erlan.says("жазылу")
    erlan.says("диагностика")
    erlan.taps("done")
    erlan.says("777 KZA 06")
    erlan.taps("skip")
    erlan.says("бүгін 16:00")
    erlan.taps_first("confirm:")
    erlan.taps("pay:cash")
    expect(erlan.last_text(), "ZA-", "Ерлан's booking has no code")


def chapter_atyrau_no_show(world: World) -> None:
    """Ерлан does not come; his mechanic marks the no-show and he loses a token."""
    world.transcript.heading("Atyrau · Telegram · Қазақша: Ерлан does not come")
    world.transcript.timezone = "Asia/Atyrau"
    job = booking_by_code(world, "ZA-1002")
    mechanic = TelegramUser(world, "zhaiyk-auto", 6660101, job["mechanic"], "kk")
    mechanic.proves_staff(job["mechanic_phone"])
    move_clock_to(world, job["starts_at"] + timedelta(minutes=20))
    mechanic.says("келмеді 1002")
    mechanic.says("иә")
    erlan = TelegramUser(world, "zhaiyk-auto", 5550002, "Ерлан", "kk", seen=len(world.telegram.sent_messages(5550002)))
    erlan.replies()
    expect(erlan.last_text(), "1", "Ерлан was not told about the no-show")


def chapter_off_shift(world: World) -> None:
    """Amina's mechanic goes off shift; her job moves to a colleague and she is told."""
    world.transcript.heading("Nairobi · Telegram: a mechanic goes off shift, a job is reassigned")
    world.transcript.timezone = "Africa/Nairobi"
    job = booking_by_code(world, "MM-1001")
    mechanic = TelegramUser(world, "mwangaza-motors", 6660001, job["mechanic"], "en")
    mechanic.proves_staff(job["mechanic_phone"])
    mechanic.says("off shift")
    mechanic.taps_first("st:")  # confirm
    amina = world.people["Amina"]
    wait_for(amina, "MM-1001")
    after = booking_by_code(world, "MM-1001")
    if after["mechanic"] == job["mechanic"]:
        raise StoryBroke("MM-1001 was not reassigned")


def chapter_shop_floor(world: World) -> None:
    """Amina's car through the workshop: received, worn discs found and approved, ready,
    the balance paid by M-Pesa, done, receipt and rating."""
    world.transcript.heading("Nairobi · Telegram: Amina's car in the workshop")
    world.transcript.timezone = "Africa/Nairobi"
    job = booking_by_code(world, "MM-1001")
    mechanic = TelegramUser(world, "mwangaza-motors", 6660002, job["mechanic"], "en")
    mechanic.proves_staff(job["mechanic_phone"])
    amina = world.people["Amina"]
    move_clock_to(world, job["starts_at"] - timedelta(hours=2, minutes=-1))
    run_cron(world, "send_reminders")
    wait_for(amina, "MM-1001")
    move_clock_to(world, job["starts_at"] - timedelta(minutes=5))
    mechanic.says("jobs")
    mechanic.says("received 1001")
    mechanic.says("start 1001")
    for typed in ("extra 1001", "Front brake discs are worn out", "KSh 6,500", "skip", "yes"):
        mechanic.says(typed)
    wait_for(amina, "extra work")
    amina.taps_first("extra:yes")
    move_clock_to(world, job["starts_at"] + timedelta(hours=2))
    mechanic.says("ready 1001")
    wait_for(amina, "left to pay")
    amina.taps_first("paybalance:")
    world.transcript.note("Amina enters her M-Pesa PIN")
    wait_for(amina, "Payment received")
    mechanic.says("done 1001")
    wait_for(amina, "rate your visit")
    amina.taps(f"rate:{job['id']}:5")
    expect(amina.last_text(), "5 of 5", "Amina's rating was not thanked")


def chapter_digests(world: World) -> None:
    """Each owner gets the daily digest with its chart; the chart and a CSV go under var/."""
    world.transcript.heading("Owners: the daily digest")
    world.transcript.timezone = "Africa/Nairobi"
    owner = TelegramUser(world, "mwangaza-motors", 6660009, "Wanjiru", "en")
    owner.proves_staff("254711000001")
    world.transcript.timezone = "Asia/Atyrau"
    erlan_owner = TelegramUser(world, "zhaiyk-auto", 6660109, "Ерлан Сапаров", "ru")
    erlan_owner.proves_staff("77012000001")
    world.transcript.timezone = "Africa/Nairobi"
    move_clock_to(world, datetime(2026, 11, 24, 16, 5, tzinfo=UTC))  # 19:05 Nairobi, 21:05 Atyrau
    run_cron(world, "send_digests")
    wait_for(owner, "")
    erlan_owner.replies()
    write_digest_files(world)


CHAPTERS: list[tuple[str, str, Callable[[World], None]]] = [
    ("mwangaza-motors", "en", chapter_nairobi_telegram),
    ("mwangaza-motors", "sw", chapter_nairobi_whatsapp),
    ("zhaiyk-auto", "ru", chapter_atyrau_whatsapp),
    ("zhaiyk-auto", "kk", chapter_atyrau_telegram),
    ("zhaiyk-auto", "kk", chapter_atyrau_no_show),
    ("mwangaza-motors", "en", chapter_off_shift),
    ("mwangaza-motors", "en", chapter_shop_floor),
    (None, None, chapter_digests),
]


def booking_by_code(world: World, code: str) -> dict:
    """What the demo needs to know of a booking (the mechanic to play, its time)."""
    from sqlalchemy import select

    from core.models import Booking, Staff

    with world.runtime.db.uow() as uow:
        b = uow.session.scalar(select(Booking).where(Booking.code == code))
        if b is None:
            raise StoryBroke(f"no booking {code}")
        mechanic = uow.session.get(Staff, b.mechanic_id)
        return {"id": b.id, "starts_at": b.starts_at, "status": b.status,
                "mechanic": mechanic.name.split()[0], "mechanic_phone": mechanic.phone}  # fmt: skip


def move_clock_to(world: World, moment: datetime) -> None:
    delta = moment - world.runtime.now()
    if delta > timedelta(0):
        world.runtime.clock.advance(delta)
        world.transcript.note(f"later: {moment.astimezone(ZoneInfo(world.transcript.timezone)):%a %d %b %H:%M}")


def write_digest_files(world: World) -> None:
    """The chart PNG and a CSV export of each shop's day, under the demo's var/ folder."""
    from sqlalchemy import select

    from core import digest
    from core.models import Shop
    from core.owner import export_csv

    day = datetime(2026, 11, 24).date()
    with world.runtime.db.uow() as uow:
        for shop in uow.session.scalars(select(Shop).order_by(Shop.id)):
            figures = digest.figures_for(uow.session, shop.id, day, world.runtime.now())
            lang = shop.languages[0]
            world.files.append(digest.write_chart(figures, lang, world.out_dir / f"{shop.slug}-{day}.png"))
            path, _rows = export_csv(uow.session, shop.id, day - timedelta(days=1), day,
                                     world.out_dir / f"{shop.slug}-{day}.csv", lang)  # fmt: skip
            world.files.append(path)


# Chapters that can be replayed alone (--lang, --shop); the others continue a story.
INDEPENDENT = {chapter_nairobi_telegram, chapter_nairobi_whatsapp, chapter_atyrau_whatsapp, chapter_atyrau_telegram}


def run_cron(world: World, name: str) -> None:
    """Run one of the cron process's jobs now, as `pitstop cron` would."""
    from bot import schedule

    world.transcript.note(f"cron: {name}")
    getattr(schedule, name)()


def expect(text: str, fragment: str, problem: str) -> None:
    if fragment not in text:
        raise StoryBroke(f"{problem}: the last message was {text!r}")


DEFAULT_OUT = Path("var") / "demo"
MARK = ".pitstop-demo"  # in a directory the demo made: cleared for its next run, nothing else is


def fresh_output(out: Path, default: bool) -> str | None:
    """Empty `out` for a new run, or say why not: a directory with things in it that the
    demo did not make (no mark, not the default place) is never touched."""
    if out.exists():
        if not out.is_dir() or not (default or (out / MARK).exists() or not any(out.iterdir())):
            return f"{out} is not empty and was not made by the demo: choose another --out"
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARK).write_text("made by `pitstop demo`, which clears this directory on its next run\n")
    return None


def run_demo(out: Path | None = None, lang: str | None = None, shop: str | None = None) -> int:
    """Play the story; return the process exit code (0 when every chapter worked)."""
    refused = fresh_output((out or DEFAULT_OUT).resolve(), default=out is None)
    if refused:
        click.echo(refused, err=True)
        return 2
    out = (out or DEFAULT_OUT).resolve()
    transcript = Transcript(timezone="Africa/Nairobi")
    chapters = [c for c in CHAPTERS if c[0] is None or ((lang is None or c[1] == lang) and (shop is None or c[0] == shop))]
    if lang or shop:
        chapters = [c for c in chapters if c[0] is not None and c[2] in INDEPENDENT]
    if not chapters:
        click.echo(f"no chapter for --lang {lang} --shop {shop}", err=True)
        return 2
    started = time.monotonic()
    current = "starting the app and the fake servers"
    try:
        with World(out, transcript, START) as world:
            for _shop, _lang, chapter in chapters:
                current = chapter.__doc__.strip()
                chapter(world)
    except StoryBroke as exc:
        click.echo(f"\nThe story broke in: {current}\n  {exc}", err=True)
        return 1
    except Exception as exc:  # say where, then the detail
        click.echo(f"\nThe story broke in: {current}\n  {type(exc).__name__}: {exc}", err=True)
        return 1
    click.echo(f"\nThe story took {time.monotonic() - started:.1f} s.")
    for path in world.files:
        click.echo(f"{'Chart:' if str(path).endswith('.png') else 'CSV:':<11} {path}")
    click.echo(f"Database:   {out / 'pitstop.db'}")
    hint_shop, hint_lang = next((c[0], c[1]) for c in chapters if c[0] is not None) if lang or shop else \
        ("mwangaza-motors", "sw")  # a shop and a language it has: the part replayed, or the README's  # fmt: skip
    click.echo(f"Go on by hand:  pitstop chat --shop {hint_shop} --lang {hint_lang}")
    click.echo(f"  (with DATABASE_URL=sqlite:///{out / 'pitstop.db'} to continue this story's database)")
    return 0


if __name__ == "__main__":
    sys.exit(run_demo())
