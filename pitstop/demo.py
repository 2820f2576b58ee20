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
from datetime import UTC, datetime
from pathlib import Path

import click

from pitstop.story import StoryBroke, TelegramUser, Transcript, WhatsAppUser, World, wait_for

START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday, 10:00 in Nairobi, 12:00 in Atyrau


def chapter_nairobi_telegram(world: World) -> None:
    """Amina books brake pads and an oil change on Telegram, in English."""
    world.transcript.heading("Nairobi · Telegram · English: Amina books brake pads and an oil change")
    world.transcript.timezone = "Africa/Nairobi"
    amina = TelegramUser(world, "mwangaza-motors", 5550001, "Amina", "en")
    amina.says("/start")
    amina.taps("English")
    amina.taps("Book a service")
    amina.taps_first("svc:", "Brake pads")
    amina.says("oil change")
    amina.taps("done")
    amina.says("KCB 123A")
    amina.says("Toyota Probox")
    amina.says("tomorrow 10am")
    amina.taps("confirm")
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
    erlan.taps("confirm")
    erlan.taps("pay:cash")
    expect(erlan.last_text(), "ZA-", "Ерлан's booking has no code")


CHAPTERS: list[tuple[str, str, Callable[[World], None]]] = [
    ("mwangaza-motors", "en", chapter_nairobi_telegram),
    ("mwangaza-motors", "sw", chapter_nairobi_whatsapp),
    ("zhaiyk-auto", "ru", chapter_atyrau_whatsapp),
    ("zhaiyk-auto", "kk", chapter_atyrau_telegram),
]


def run_cron(world: World, name: str) -> None:
    """Run one of the cron process's jobs now, as `pitstop cron` would."""
    from bot import schedule

    world.transcript.note(f"cron: {name}")
    getattr(schedule, name)()


def expect(text: str, fragment: str, problem: str) -> None:
    if fragment not in text:
        raise StoryBroke(f"{problem}: the last message was {text!r}")


def run_demo(out: Path | None = None, lang: str | None = None, shop: str | None = None) -> int:
    """Play the story; return the process exit code (0 when every chapter worked)."""
    out = (out or Path("var") / "demo").resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    transcript = Transcript(timezone="Africa/Nairobi")
    chapters = [c for c in CHAPTERS if (lang is None or c[1] == lang) and (shop is None or c[0] == shop)]
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
    click.echo(f"Database:   {out / 'pitstop.db'}")
    click.echo("Go on by hand:  pitstop chat --shop mwangaza-motors --lang sw")
    click.echo(f"  (with DATABASE_URL=sqlite:///{out / 'pitstop.db'} to continue this story's database)")
    return 0


if __name__ == "__main__":
    sys.exit(run_demo())
